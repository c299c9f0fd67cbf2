//! `GET /v1/models` and `GET /v1/models/{id}` of the scripted Messages API
//! ([`crate::messages_api::ScriptedApi`]), shaped like the real Models API.
//!
//! - The list is newest first. A page is
//!   `{"data":[M,...],"has_more":bool,"first_id":ID|null,"last_id":ID|null}`
//!   where M is `{"type":"model","id","display_name","created_at",
//!   "lifecycle":"active","max_input_tokens","max_tokens"}`.
//! - Query: `limit` (1..=1000, default 20; else 400), `after_id` (the page
//!   after that id), `before_id` (the page before it); an unknown cursor is a
//!   400 `invalid_request_error`.
//! - Like the real API: no `x-api-key` and no `authorization` → 401
//!   `authentication_error`; no `anthropic-version` → 400.
//! - Scriptable: [`ScriptedModels::set`] replaces the list;
//!   [`ScriptedModels::push_fault`] queues failures, consumed one per models
//!   request (an HTTP error, or a delay before the normal answer).
//! - The script file of `synapse-scripted-api` may carry `"models":[{"id":..,
//!   "display_name":..,"created_at":..},...]` and `"models_faults":[{"status":500},
//!   {"delay_ms":3000}]`.
//!
//! Models requests are recorded apart from `POST /v1/messages` requests
//! ([`ScriptedModels::requests`]), so counts of messages requests stay exact.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One model of the scripted list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptModel {
    /// Model id (`claude-sonnet-5-5`).
    pub id: String,
    /// Human name (`Claude Sonnet 5.5`).
    pub display_name: String,
    /// RFC 3339 release time.
    pub created_at: String,
}

impl ScriptModel {
    /// A model entry.
    pub fn new(id: &str, display_name: &str, created_at: &str) -> Self {
        Self {
            id: id.into(),
            display_name: display_name.into(),
            created_at: created_at.into(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "type": "model",
            "id": self.id,
            "display_name": self.display_name,
            "created_at": self.created_at,
            "lifecycle": "active",
            "max_input_tokens": 1_000_000,
            "max_tokens": 128_000,
        })
    }
}

/// A scripted failure of one models request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelsFault {
    /// Answer this HTTP status with an error body (none: answer normally,
    /// after `delay_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `error.type` (default from the status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Wait before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

impl ModelsFault {
    /// An HTTP error status.
    pub fn status(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    /// A wait before the answer.
    pub fn delay(ms: u64) -> Self {
        Self {
            delay_ms: Some(ms),
            ..Self::default()
        }
    }
}

/// A models request as received.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelsRequest {
    /// Path and query (`/v1/models?limit=2`).
    pub path_and_query: String,
    /// Header names (lower case) and values.
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Inner {
    list: Vec<ScriptModel>,
    faults: VecDeque<ModelsFault>,
    requests: Vec<ModelsRequest>,
}

/// The scripted Models API state of one server.
#[derive(Debug)]
pub struct ScriptedModels {
    inner: Mutex<Inner>,
}

impl Default for ScriptedModels {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                list: default_models(),
                ..Inner::default()
            }),
        }
    }
}

/// The default list: the current models the official Python SDK names
/// (newest first).
pub fn default_models() -> Vec<ScriptModel> {
    [
        (
            "claude-fable-5-2",
            "Claude Fable 5.2",
            "2026-11-09T00:00:00Z",
        ),
        (
            "claude-haiku-5-5",
            "Claude Haiku 5.5",
            "2026-10-07T00:00:00Z",
        ),
        (
            "claude-sonnet-5-5",
            "Claude Sonnet 5.5",
            "2026-09-22T00:00:00Z",
        ),
        ("claude-opus-5-5", "Claude Opus 5.5", "2026-09-15T00:00:00Z"),
        (
            "claude-fable-5-1",
            "Claude Fable 5.1",
            "2026-08-20T00:00:00Z",
        ),
        ("claude-opus-5", "Claude Opus 5", "2026-07-24T00:00:00Z"),
        ("claude-sonnet-5", "Claude Sonnet 5", "2026-06-30T00:00:00Z"),
        ("claude-fable-5", "Claude Fable 5", "2026-06-09T00:00:00Z"),
        (
            "claude-haiku-4-5-20251001",
            "Claude Haiku 4.5",
            "2025-10-01T00:00:00Z",
        ),
    ]
    .iter()
    .map(|(id, name, at)| ScriptModel::new(id, name, at))
    .collect()
}

/// What the server answers: status, extra headers, JSON body.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
    pub delay: Option<Duration>,
}

impl ScriptedModels {
    /// Replace the list (newest first).
    pub fn set(&self, list: Vec<ScriptModel>) {
        if let Ok(mut i) = self.inner.lock() {
            i.list = list;
        }
    }

    /// Queue failures, consumed one per models request.
    pub fn push_fault(&self, faults: impl IntoIterator<Item = ModelsFault>) {
        if let Ok(mut i) = self.inner.lock() {
            i.faults.extend(faults);
        }
    }

    /// Every models request so far.
    pub fn requests(&self) -> Vec<ModelsRequest> {
        self.inner
            .lock()
            .map(|i| i.requests.clone())
            .unwrap_or_default()
    }

    /// Apply the `models` / `models_faults` keys of a script file.
    pub fn configure(&self, script: &Value) -> Result<(), serde_json::Error> {
        if let Some(list) = script.get("models") {
            self.set(serde_json::from_value(list.clone())?);
        }
        if let Some(faults) = script.get("models_faults") {
            self.push_fault(serde_json::from_value::<Vec<ModelsFault>>(faults.clone())?);
        }
        Ok(())
    }

    /// Answer one request for `path_and_query` (already known to start with
    /// `/v1/models`).
    pub(crate) fn answer(
        &self,
        path: &str,
        query: Option<&str>,
        headers: BTreeMap<String, String>,
    ) -> Answer {
        let Ok(mut inner) = self.inner.lock() else {
            return error(500, "api_error", "poisoned");
        };
        inner.requests.push(ModelsRequest {
            path_and_query: match query {
                Some(q) => format!("{path}?{q}"),
                None => path.to_owned(),
            },
            headers: headers.clone(),
        });
        let mut delay = None;
        if let Some(f) = inner.faults.pop_front() {
            delay = f.delay_ms.map(Duration::from_millis);
            if let Some(status) = f.status {
                let et = f
                    .error_type
                    .unwrap_or_else(|| crate::messages_api::default_error_type(status).to_owned());
                let mut a = error(status, &et, crate::messages_api::default_message(&et));
                a.delay = delay;
                return a;
            }
        }
        if !headers.contains_key("x-api-key") && !headers.contains_key("authorization") {
            return error(401, "authentication_error", "x-api-key header is required");
        }
        if !headers.contains_key("anthropic-version") {
            return error(
                400,
                "invalid_request_error",
                "anthropic-version: header is required",
            );
        }
        let mut a = if let Some(id) = path.strip_prefix("/v1/models/") {
            match inner.list.iter().find(|m| m.id == id) {
                Some(m) => Answer {
                    status: 200,
                    body: m.to_json(),
                    delay: None,
                },
                None => error(404, "not_found_error", &format!("model: {id}")),
            }
        } else if path == "/v1/models" || path == "/v1/models/" {
            page(&inner.list, query)
        } else {
            error(404, "not_found_error", &format!("no route GET {path}"))
        };
        a.delay = delay;
        a
    }
}

fn error(status: u16, error_type: &str, message: &str) -> Answer {
    Answer {
        status,
        body: json!({"type": "error", "error": {"type": error_type, "message": message}}),
        delay: None,
    }
}

fn page(list: &[ScriptModel], query: Option<&str>) -> Answer {
    let params: BTreeMap<String, String> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect();
    let limit = match params.get("limit") {
        None => 20,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return error(
                    400,
                    "invalid_request_error",
                    "limit: Input should be between 1 and 1000",
                )
            }
        },
    };
    let position = |key: &str| -> Result<Option<usize>, Answer> {
        match params.get(key) {
            None => Ok(None),
            Some(id) => list
                .iter()
                .position(|m| &m.id == id)
                .map(Some)
                .ok_or_else(|| {
                    error(
                        400,
                        "invalid_request_error",
                        &format!("{key}: no model with id {id}"),
                    )
                }),
        }
    };
    let (start, end, has_more) = match (position("after_id"), position("before_id")) {
        (Err(e), _) | (_, Err(e)) => return e,
        (Ok(Some(a)), _) => {
            let start = a + 1;
            let end = (start + limit).min(list.len());
            (start, end, end < list.len())
        }
        (Ok(None), Ok(Some(b))) => {
            let start = b.saturating_sub(limit);
            (start, b, start > 0)
        }
        (Ok(None), Ok(None)) => {
            let end = limit.min(list.len());
            (0, end, end < list.len())
        }
    };
    let data: Vec<Value> = list[start.min(end)..end]
        .iter()
        .map(ScriptModel::to_json)
        .collect();
    let first = data.first().map(|m| m["id"].clone()).unwrap_or(Value::Null);
    let last = data.last().map(|m| m["id"].clone()).unwrap_or(Value::Null);
    Answer {
        status: 200,
        body: json!({"data": data, "has_more": has_more, "first_id": first, "last_id": last}),
        delay: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> BTreeMap<String, String> {
        [("x-api-key", "k"), ("anthropic-version", "2023-06-01")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn pages_follow_the_cursors() {
        let m = ScriptedModels::default();
        let n = default_models().len();
        let a = m.answer("/v1/models", Some("limit=4"), auth());
        assert_eq!(a.status, 200);
        assert_eq!(a.body["data"].as_array().map(Vec::len), Some(4));
        assert_eq!(a.body["has_more"], json!(true));
        let last = a.body["last_id"].as_str().unwrap_or_default().to_owned();
        let b = m.answer(
            "/v1/models",
            Some(&format!("limit=100&after_id={last}")),
            auth(),
        );
        assert_eq!(b.body["data"].as_array().map(Vec::len), Some(n - 4));
        assert_eq!(b.body["has_more"], json!(false));
        let first = b.body["first_id"].as_str().unwrap_or_default().to_owned();
        let c = m.answer(
            "/v1/models",
            Some(&format!("before_id={first}&limit=2")),
            auth(),
        );
        assert_eq!(c.body["last_id"].as_str(), Some(last.as_str()));
        assert_eq!(c.body["has_more"], json!(true));
        assert_eq!(m.answer("/v1/models", Some("limit=0"), auth()).status, 400);
        assert_eq!(
            m.answer("/v1/models", Some("after_id=nope"), auth()).status,
            400
        );
        assert_eq!(m.answer("/v1/models", None, BTreeMap::new()).status, 401);
        assert_eq!(
            m.answer("/v1/models/claude-sonnet-5-5", None, auth())
                .status,
            200
        );
        assert_eq!(m.answer("/v1/models/claude-x", None, auth()).status, 404);
        m.set(vec![]);
        let e = m.answer("/v1/models", None, auth());
        assert_eq!(
            e.body,
            json!({"data": [], "has_more": false, "first_id": null, "last_id": null})
        );
        m.push_fault([ModelsFault::status(500)]);
        assert_eq!(m.answer("/v1/models", None, auth()).status, 500);
        assert_eq!(m.answer("/v1/models", None, auth()).status, 200);
        assert_eq!(m.requests().len(), 11);
    }
}
