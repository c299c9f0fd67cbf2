//! The JSON-RPC 2.0 envelope: ids, requests, notifications, responses, errors.
//!
//! [`Message::classify`] turns one parsed JSON object into a message or the
//! `-32600` error it deserves; both peers use it, so the daemon and the CLI
//! agree on what a valid message is.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::code;

/// A request id: a number, a string, or `null` (only in error responses to
/// unparseable input).
///
/// JSON-RPC allows any JSON number as an id. Integers that fit an `i64` are
/// [`Id::Num`]; any other number (`1.5`, `1e3`, `18446744073709551617`) is
/// kept as the exact text the peer sent ([`Id::RawNumber`]) and written back
/// byte for byte, so every client can match its answers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Id {
    /// An integer id that fits an `i64`.
    Num(i64),
    /// Any other JSON number, as the exact text the peer sent.
    RawNumber(String),
    /// A string id.
    Str(String),
    /// `null`: the id of an error response whose request could not be read.
    Null,
}

impl Id {
    /// The id a peer sent, from the JSON text of its `id` member (exact for
    /// every number). `None` when the text is not a number, a string or `null`.
    pub fn from_json_text(text: &str) -> Option<Id> {
        let text = text.trim();
        match text.as_bytes().first()? {
            b'"' => serde_json::from_str::<String>(text).ok().map(Id::Str),
            b'n' if text == "null" => Some(Id::Null),
            b'-' | b'0'..=b'9' => {
                // Validate it is one JSON number, then keep its text.
                serde_json::from_str::<serde_json::Number>(text).ok()?;
                Some(match text.parse::<i64>() {
                    Ok(n) if n.to_string() == text => Id::Num(n),
                    _ => Id::RawNumber(text.to_owned()),
                })
            }
            _ => None,
        }
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Num(n) => s.serialize_i64(*n),
            Id::RawNumber(text) => match serde_json::value::RawValue::from_string(text.clone()) {
                Ok(raw) => raw.serialize(s),
                Err(_) => s.serialize_unit(),
            },
            Id::Str(text) => s.serialize_str(text),
            Id::Null => s.serialize_unit(),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl serde::de::Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number, a string or null")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Id, E> {
                Ok(Id::Num(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Id, E> {
                Ok(i64::try_from(v).map_or_else(|_| Id::RawNumber(v.to_string()), Id::Num))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Id, E> {
                // Exact text is recovered by `Id::from_json_text` where it
                // matters (the daemon's dispatcher); this is the best a
                // parsed value allows.
                Ok(Id::RawNumber(
                    serde_json::Number::from_f64(v)
                        .map_or_else(|| "null".into(), |n| n.to_string()),
                ))
            }
            fn visit_str<E>(self, v: &str) -> Result<Id, E> {
                Ok(Id::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Id, E> {
                Ok(Id::Str(v))
            }
            fn visit_unit<E>(self) -> Result<Id, E> {
                Ok(Id::Null)
            }
            fn visit_none<E>(self) -> Result<Id, E> {
                Ok(Id::Null)
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

impl JsonSchema for Id {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Id".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A request id: any JSON number (echoed exactly as sent), a string, or null.",
            "type": ["number", "string", "null"]
        })
    }
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
            Id::RawNumber(n) => f.write_str(n),
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
        Self::classify_with_id(value, None)
    }

    /// [`Message::classify`], with the exact JSON text of the message's `id`
    /// member when the caller has it (see [`Id::from_json_text`]); it is used
    /// for ids that are numbers but not `i64`s, which a parsed [`Value`]
    /// cannot hold exactly.
    pub fn classify_with_id(
        value: Value,
        raw_id: Option<&str>,
    ) -> Result<Message, (Id, ErrorObject)> {
        let Value::Object(map) = &value else {
            return Err((
                Id::Null,
                ErrorObject::invalid_request("a message must be a JSON object"),
            ));
        };
        let id = match map.get("id") {
            None => None,
            Some(v) => {
                let exact = match v {
                    Value::Number(_) => raw_id.and_then(Id::from_json_text),
                    _ => None,
                };
                match exact
                    .map(Ok)
                    .unwrap_or_else(|| serde_json::from_value::<Id>(v.clone()))
                {
                    Ok(id) => Some(id),
                    Err(_) => {
                        return Err((
                            Id::Null,
                            ErrorObject::invalid_request(
                                "\"id\" must be a number, a string or null",
                            ),
                        ))
                    }
                }
            }
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
            return if let Some(id) = id {
                // The id is already exact; typed parsing must not redo it.
                let mut value = value;
                if let Some(slot) = value.get_mut("id") {
                    *slot = Value::Null;
                }
                serde_json::from_value::<Request>(value)
                    .map(|mut r| {
                        r.id = id;
                        Message::Request(r)
                    })
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
            let mut value = value;
            if let Some(slot) = value.get_mut("id") {
                *slot = Value::Null;
            }
            return serde_json::from_value::<Response>(value)
                .map(|mut r| {
                    r.id = err_id.clone();
                    Message::Response(r)
                })
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
        let (_, e) =
            classify(json!({"jsonrpc":"2.0","id":[1],"method":"x"})).expect_err("array id");
        assert_eq!(e.code, code::INVALID_REQUEST);
        let (_, e) = classify(json!({"jsonrpc":"2.0","id":1,"method":"x","params":3}))
            .expect_err("scalar params");
        assert_eq!(e.code, code::INVALID_REQUEST);
        let (_, e) = classify(json!(42)).expect_err("not an object");
        assert_eq!(e.code, code::INVALID_REQUEST);
    }

    #[test]
    fn any_number_is_an_id_echoed_exactly() {
        for text in ["1.5", "1e3", "18446744073709551617", "-0", "2.50"] {
            let line = format!(r#"{{"jsonrpc":"2.0","id":{text},"method":"x"}}"#);
            let v: Value = serde_json::from_str(&line).expect("json");
            let msg = Message::classify_with_id(v, Some(text)).expect("valid");
            let Message::Request(r) = msg else {
                panic!("not a request")
            };
            let back = serde_json::to_string(&Response::ok(r.id, json!(1))).expect("ser");
            assert_eq!(
                back,
                format!(r#"{{"jsonrpc":"2.0","id":{text},"result":1}}"#)
            );
        }
        assert_eq!(Id::from_json_text("7"), Some(Id::Num(7)));
        assert_eq!(Id::from_json_text("\"a\""), Some(Id::Str("a".into())));
        assert_eq!(Id::from_json_text("[1]"), None);
        assert_eq!(Id::from_json_text("1x"), None);
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
