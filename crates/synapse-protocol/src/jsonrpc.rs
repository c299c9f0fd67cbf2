//! The JSON-RPC 2.0 envelope: ids, requests, notifications, responses, errors.
//!
//! [`Message::classify`] turns one parsed JSON object into a message or the
//! `-32600` error it deserves; both peers use it, so the daemon and the CLI
//! agree on what a valid message is.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::code;

/// A request id: a number, a string, or `null` (only in error responses to unparseable input).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Id {
    /// A numeric id (integers only).
    Num(i64),
    /// A string id.
    Str(String),
    /// `null`: the id of an error response whose request could not be read.
    Null,
}

impl From<i64> for Id {
    fn from(n: i64) -> Self {
        Id::Num(n)
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id::Str(s)
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => write!(f, "{s:?}"),
            Id::Null => f.write_str("null"),
        }
    }
}

/// The `"jsonrpc": "2.0"` marker, checked on input and always written on output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct V2;

impl Serialize for V2 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("2.0")
    }
}

impl<'de> Deserialize<'de> for V2 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s == "2.0" {
            Ok(V2)
        } else {
            Err(serde::de::Error::custom("\"jsonrpc\" must be \"2.0\""))
        }
    }
}

impl JsonSchema for V2 {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "JsonRpcVersion".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "const": "2.0" })
    }
}

/// A call that expects a [`Response`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Always `"2.0"`.
    pub jsonrpc: V2,
    /// Chosen by the caller; echoed in the response.
    pub id: Id,
    /// Method name, e.g. `daemon.status`.
    pub method: String,
    /// Named params; absent when the method takes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Request {
    /// A request with the given id, method and params.
    pub fn new(id: impl Into<Id>, method: impl Into<String>, params: Option<Value>) -> Self {
        Self {
            jsonrpc: V2,
            id: id.into(),
            method: method.into(),
            params,
        }
    }
}

/// A one-way message (no id, no response).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Always `"2.0"`.
    pub jsonrpc: V2,
    /// Method name, e.g. `turn.event`.
    pub method: String,
    /// Named params.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Notification {
    /// A notification with the given method and params.
    pub fn new(method: impl Into<String>, params: Option<Value>) -> Self {
        Self {
            jsonrpc: V2,
            method: method.into(),
            params,
        }
    }
}

/// The error member of a failed [`Response`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorObject {
    /// One of [`crate::code`].
    pub code: i32,
    /// One human-readable sentence.
    pub message: String,
    /// Structured detail, e.g. which param is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error without data.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Attach structured detail.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// `-32700` for input that is not JSON (or not UTF-8).
    pub fn parse_error(detail: impl std::fmt::Display) -> Self {
        Self::new(code::PARSE_ERROR, "Parse error").with_data(Value::String(detail.to_string()))
    }

    /// `-32600` for JSON that is not a JSON-RPC 2.0 message.
    pub fn invalid_request(detail: impl std::fmt::Display) -> Self {
        Self::new(code::INVALID_REQUEST, "Invalid request")
            .with_data(Value::String(detail.to_string()))
    }

    /// `-32601`.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            code::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    }

    /// `-32602`, with `data` saying what is wrong.
    pub fn invalid_params(detail: impl std::fmt::Display) -> Self {
        Self::new(code::INVALID_PARAMS, "Invalid params")
            .with_data(Value::String(detail.to_string()))
    }

    /// `-32603`.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(code::INTERNAL_ERROR, format!("Internal error: {detail}"))
    }

    /// `-32007` for a line over [`crate::MAX_LINE_BYTES`].
    pub fn too_large(limit: usize) -> Self {
        Self::new(code::MESSAGE_TOO_LARGE, "Message too large")
            .with_data(serde_json::json!({ "max_bytes": limit }))
    }
}

impl std::fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)?;
        if let Some(Value::String(s)) = &self.data {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorObject {}

/// The answer to a [`Request`]: exactly one of `result` and `error`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Always `"2.0"`.
    pub jsonrpc: V2,
    /// The request's id (`null` when the request could not be read).
    pub id: Id,
    /// Present on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Present on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

impl Response {
    /// A success.
    pub fn ok(id: Id, result: Value) -> Self {
        Self {
            jsonrpc: V2,
            id,
            result: Some(result),
            error: None,
        }
    }

    /// A failure.
    pub fn err(id: Id, error: ErrorObject) -> Self {
        Self {
            jsonrpc: V2,
            id,
            result: None,
            error: Some(error),
        }
    }

    /// The result, or the error as `Err`.
    pub fn into_result(self) -> Result<Value, ErrorObject> {
        match (self.result, self.error) {
            (_, Some(e)) => Err(e),
            (Some(v), None) => Ok(v),
            (None, None) => Ok(Value::Null),
        }
    }
}

/// Any single JSON-RPC message.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// Has `method` and `id`.
    Request(Request),
    /// Has `method`, no `id`.
    Notification(Notification),
    /// Has `result` or `error`.
    Response(Response),
}

impl Message {
    /// Classify one JSON value (not an array) as a message.
    ///
    /// Errors are the `-32600` object to answer with, plus the id when one
    /// could be read (so the peer can match the error to its call).
    pub fn classify(value: Value) -> Result<Message, (Id, ErrorObject)> {
        let Value::Object(map) = &value else {
            return Err((
                Id::Null,
                ErrorObject::invalid_request("a message must be a JSON object"),
            ));
        };
        let id = match map.get("id") {
            None => None,
            Some(v) => match serde_json::from_value::<Id>(v.clone()) {
                Ok(id) => Some(id),
                Err(_) => {
                    return Err((
                        Id::Null,
                        ErrorObject::invalid_request("\"id\" must be an integer, a string or null"),
                    ))
                }
            },
        };
        let err_id = id.clone().unwrap_or(Id::Null);
        if map.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err((
                err_id,
                ErrorObject::invalid_request("\"jsonrpc\" must be \"2.0\""),
            ));
        }
        if map.contains_key("method") {
            if !map.get("method").is_some_and(Value::is_string) {
                return Err((
                    err_id,
                    ErrorObject::invalid_request("\"method\" must be a string"),
                ));
            }
            if let Some(p) = map.get("params") {
                if !(p.is_object() || p.is_array() || p.is_null()) {
                    return Err((
                        err_id,
                        ErrorObject::invalid_request("\"params\" must be an object or an array"),
                    ));
                }
            }
            return if id.is_some() {
                serde_json::from_value(value)
                    .map(Message::Request)
                    .map_err(|e| (err_id, ErrorObject::invalid_request(e)))
            } else {
                serde_json::from_value(value)
                    .map(Message::Notification)
                    .map_err(|e| (Id::Null, ErrorObject::invalid_request(e)))
            };
        }
        if map.contains_key("result") || map.contains_key("error") {
            if id.is_none() {
                return Err((
                    Id::Null,
                    ErrorObject::invalid_request("a response needs an \"id\""),
                ));
            }
            return serde_json::from_value(value)
                .map(Message::Response)
                .map_err(|e| (err_id, ErrorObject::invalid_request(e)));
        }
        Err((
            err_id,
            ErrorObject::invalid_request("a message needs \"method\", or \"result\" or \"error\""),
        ))
    }
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Message::Request(r) => r.serialize(s),
            Message::Notification(n) => n.serialize(s),
            Message::Response(r) => r.serialize(s),
        }
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Message::Request(r)
    }
}

impl From<Notification> for Message {
    fn from(n: Notification) -> Self {
        Message::Notification(n)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Message::Response(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn classify(v: Value) -> Result<Message, (Id, ErrorObject)> {
        Message::classify(v)
    }

    #[test]
    fn request_notification_response() {
        let r = classify(json!({"jsonrpc":"2.0","id":1,"method":"daemon.status"}));
        assert!(matches!(
            r,
            Ok(Message::Request(Request { id: Id::Num(1), .. }))
        ));
        let n = classify(json!({"jsonrpc":"2.0","method":"tool.cancel","params":{"call_id":"x"}}));
        assert!(matches!(n, Ok(Message::Notification(_))));
        let resp = classify(json!({"jsonrpc":"2.0","id":"a","result":{}}));
        assert!(matches!(
            resp,
            Ok(Message::Response(Response { id: Id::Str(_), .. }))
        ));
    }

    #[test]
    fn invalid_messages_keep_their_id() {
        let (id, e) =
            classify(json!({"jsonrpc":"2.0","id":7})).expect_err("neither method nor result");
        assert_eq!(id, Id::Num(7));
        assert_eq!(e.code, code::INVALID_REQUEST);
        let (id, e) =
            classify(json!({"jsonrpc":"1.0","id":8,"method":"x"})).expect_err("bad version");
        assert_eq!((id, e.code), (Id::Num(8), code::INVALID_REQUEST));
        let (id, _) =
            classify(json!({"jsonrpc":"2.0","id":1.5,"method":"x"})).expect_err("float id");
        assert_eq!(id, Id::Null);
        let (_, e) = classify(json!({"jsonrpc":"2.0","id":1,"method":"x","params":3}))
            .expect_err("scalar params");
        assert_eq!(e.code, code::INVALID_REQUEST);
        let (_, e) = classify(json!(42)).expect_err("not an object");
        assert_eq!(e.code, code::INVALID_REQUEST);
    }

    #[test]
    fn serializes_compactly_in_field_order() {
        let s = serde_json::to_string(&Response::ok(Id::Num(1), json!({}))).expect("ser");
        assert_eq!(s, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
        let s = serde_json::to_string(&Response::err(
            Id::Null,
            ErrorObject::new(-32700, "Parse error"),
        ))
        .expect("ser");
        assert_eq!(
            s,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#
        );
    }
}
