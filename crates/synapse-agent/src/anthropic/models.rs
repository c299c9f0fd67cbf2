//! The Models API (`GET {base_url}/v1/models`, paged) and what a turn says
//! when its model does not exist.
//!
//! - [`AnthropicClient::list_models`] reads every page (`limit`, `after_id`;
//!   `data`, `has_more`, `last_id`) with the client's headers, bounded by
//!   [`MODELS_TIMEOUT`] (or the stream idle timeout when shorter) and
//!   [`MAX_PAGES`].
//! - A Messages API 404 (`not_found_error`) ends the turn `api_error`, kind
//!   `not_found`, with a message that names the model, lists a few available
//!   ones (the list is fetched once per client, i.e. per daemon run, and
//!   cached; a failed fetch is not cached) and says how to pick another. When
//!   the list cannot be fetched the message says so.
//! - Availability per model: `true` after a successful response (or when the
//!   fetched list names it), `false` after a 404, unknown otherwise.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{HeaderValue, ACCEPT};
use serde::Serialize;
use serde_json::Value;
use synapse_protocol::{ErrorKind, TurnError};
use tokio_util::sync::CancellationToken;

use super::client::AnthropicClient;

/// Longest a whole models listing may take.
pub const MODELS_TIMEOUT: Duration = Duration::from_secs(10);
/// Most pages read (a server that always says `has_more` is cut off).
pub const MAX_PAGES: usize = 50;
/// Page size asked for.
pub const PAGE_LIMIT: u32 = 100;
/// Models named in a not-found message.
pub const SUGGESTIONS: usize = 5;
/// Largest models page read.
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// One model as the API listed it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiModel {
    /// `claude-sonnet-5-5`.
    pub id: String,
    /// `Claude Sonnet 5.5` (empty if the API sent none).
    pub display_name: String,
    /// RFC 3339 (as sent; empty if none).
    pub created_at: String,
    /// The object exactly as the API sent it.
    #[serde(skip)]
    pub raw: Value,
}

/// Why the models list could not be read. Never contains the credential.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ModelsError {
    /// No credential anywhere (or it could not be read).
    #[error("{}", .0.message)]
    Credential(TurnError),
    /// The API answered an error status.
    #[error("the Models API returned HTTP {status}{}{}", .error_type.as_deref().map(|t| format!(" {t}")).unwrap_or_default(), if .message.is_empty() { String::new() } else { format!(": {}", .message) })]
    Http {
        /// Status.
        status: u16,
        /// `error.type`.
        error_type: Option<String>,
        /// `error.message`.
        message: String,
    },
    /// The API could not be reached.
    #[error("cannot reach the Models API: {0}")]
    Connection(String),
    /// The listing took too long.
    #[error("the Models API did not answer within {0:.1} s")]
    Timeout(f64),
    /// A page was not the expected JSON.
    #[error("the Models API sent an unexpected answer: {0}")]
    Malformed(String),
    /// The request was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// Per-client cache of the list and of model availability.
#[derive(Debug, Default)]
pub struct ModelsCache {
    list: tokio::sync::Mutex<Option<Arc<Vec<ApiModel>>>>,
    available: Mutex<HashMap<String, bool>>,
}

impl ModelsCache {
    /// Record whether `model` was found.
    pub fn set_available(&self, model: &str, yes: bool) {
        if let Ok(mut m) = self.available.lock() {
            m.insert(model.to_owned(), yes);
        }
    }

    /// Whether `model` is known to be available (`None`: not known yet).
    pub fn available(&self, model: &str) -> Option<bool> {
        self.available
            .lock()
            .ok()
            .and_then(|m| m.get(model).copied())
    }
}

/// Longest model name accepted.
pub const MAX_MODEL_NAME: usize = 256;

/// A model name must be non-empty, at most [`MAX_MODEL_NAME`] bytes, and free
/// of whitespace and control characters (it is sent as is). The error says
/// why, without quoting more than the name.
pub fn check_model_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the model name is empty".into());
    }
    if name.len() > MAX_MODEL_NAME {
        return Err(format!(
            "the model name is {} bytes long (at most {MAX_MODEL_NAME})",
            name.len()
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the model name {name:?} contains whitespace or control characters"
        ));
    }
    Ok(())
}

/// Whether the listed `id` is `model` or a dated snapshot of it.
pub fn names(id: &str, model: &str) -> bool {
    id == model
        || id
            .strip_prefix(model)
            .and_then(|r| r.strip_prefix('-'))
            .is_some_and(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
}

impl AnthropicClient {
    /// Every model the credential can use, newest first, all pages read.
    pub async fn list_models(
        &self,
        cancel: &CancellationToken,
    ) -> Result<Vec<ApiModel>, ModelsError> {
        let limit = MODELS_TIMEOUT.min(self.idle_timeout);
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(ModelsError::Cancelled),
            r = tokio::time::timeout(limit, self.all_pages(PAGE_LIMIT)) => match r {
                Ok(r) => r,
                Err(_) => Err(ModelsError::Timeout(limit.as_secs_f64())),
            },
        }
    }

    /// Like [`Self::list_models`] with an explicit page size (tests of paging).
    pub async fn list_models_paged(&self, page_limit: u32) -> Result<Vec<ApiModel>, ModelsError> {
        let limit = MODELS_TIMEOUT.min(self.idle_timeout);
        match tokio::time::timeout(limit, self.all_pages(page_limit.clamp(1, 1000))).await {
            Ok(r) => r,
            Err(_) => Err(ModelsError::Timeout(limit.as_secs_f64())),
        }
    }

    /// The list, fetched once and cached for this client's life; a failure
    /// is not cached.
    pub async fn cached_models(
        &self,
        cancel: &CancellationToken,
    ) -> Result<Arc<Vec<ApiModel>>, ModelsError> {
        let mut slot = self.models.list.lock().await;
        if let Some(list) = slot.as_ref() {
            return Ok(list.clone());
        }
        let list = Arc::new(self.list_models(cancel).await?);
        for m in list.iter() {
            self.models.set_available(&m.id, true);
        }
        *slot = Some(list.clone());
        Ok(list)
    }

    async fn all_pages(&self, page_limit: u32) -> Result<Vec<ApiModel>, ModelsError> {
        let mut headers = self.request_headers().map_err(ModelsError::Credential)?;
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.remove(reqwest::header::CONTENT_TYPE);
        let url = format!("{}/v1/models", self.base_url);
        let mut out: Vec<ApiModel> = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query: Vec<(&str, String)> = vec![("limit", page_limit.to_string())];
            if let Some(a) = &after {
                query.push(("after_id", a.clone()));
            }
            let resp = self
                .http
                .get(&url)
                .headers(headers.clone())
                .query(&query)
                .send()
                .await
                .map_err(|e| ModelsError::Connection(error_chain(&e)))?;
            let status = resp.status().as_u16();
            let body = read_limited(resp).await?;
            let parsed: Option<Value> = serde_json::from_slice(&body).ok();
            if status != 200 {
                let get = |p: &str| {
                    parsed
                        .as_ref()
                        .and_then(|v| v.pointer(p))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                return Err(ModelsError::Http {
                    status,
                    error_type: get("/error/type"),
                    message: get("/error/message").unwrap_or_default(),
                });
            }
            let page = parsed.ok_or_else(|| ModelsError::Malformed("not JSON".into()))?;
            let data = page
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| ModelsError::Malformed("no `data` array".into()))?;
            for m in data {
                let Some(id) = m.get("id").and_then(Value::as_str) else {
                    return Err(ModelsError::Malformed("a model without `id`".into()));
                };
                let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                out.push(ApiModel {
                    id: id.to_owned(),
                    display_name: text("display_name"),
                    created_at: text("created_at"),
                    raw: m.clone(),
                });
            }
            let has_more = page
                .get("has_more")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let last = page
                .get("last_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match last {
                Some(l) if has_more && after.as_deref() != Some(l.as_str()) => after = Some(l),
                _ => return Ok(out),
            }
        }
        Err(ModelsError::Malformed(format!(
            "more than {MAX_PAGES} pages of models"
        )))
    }

    /// The turn error for a 404 on `model`: names the model, suggests
    /// available ones and says how to set another.
    pub(super) async fn model_not_found(
        &self,
        model: &str,
        api_error: TurnError,
        cancel: &CancellationToken,
    ) -> TurnError {
        self.models.set_available(model, false);
        let listed = self.cached_models(cancel).await;
        not_found_error(
            model,
            &api_error.message,
            listed.as_deref().map(Vec::as_slice),
        )
    }
}

/// The message of a turn whose model the API did not find.
pub fn not_found_error(
    model: &str,
    api_message: &str,
    listed: Result<&[ApiModel], &ModelsError>,
) -> TurnError {
    let mut msg = format!("model \"{model}\" is not available ({api_message}). ");
    match listed {
        Ok([]) => msg.push_str("The Models API lists no models for this API key. "),
        Ok(list) => {
            let ids: Vec<&str> = list
                .iter()
                .filter(|m| !names(&m.id, model))
                .take(SUGGESTIONS)
                .map(|m| m.id.as_str())
                .collect();
            msg.push_str(&format!("Available: {}", ids.join(", ")));
            if list.len() > ids.len() {
                msg.push_str(&format!(" ({} in all: `synapsed models`)", list.len()));
            }
            msg.push_str(". ");
        }
        Err(e) => msg.push_str(&format!(
            "The list of available models could not be fetched ({e}). "
        )),
    }
    msg.push_str(
        "Pick another with `--model` (ask, serve), SYNAPSE_MODEL or `model` in the config file.",
    );
    TurnError {
        kind: ErrorKind::NotFound,
        message: msg,
    }
}

async fn read_limited(resp: reqwest::Response) -> Result<Vec<u8>, ModelsError> {
    let mut stream = resp.bytes_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ModelsError::Connection(error_chain(&e)))?;
        body.extend_from_slice(&chunk);
        if body.len() > MAX_PAGE_BYTES {
            return Err(ModelsError::Malformed(format!(
                "a page over {MAX_PAGE_BYTES} bytes"
            )));
        }
    }
    Ok(body)
}

fn error_chain(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str) -> ApiModel {
        ApiModel {
            id: id.into(),
            display_name: String::new(),
            created_at: String::new(),
            raw: Value::Null,
        }
    }

    #[test]
    fn the_message_names_the_model_and_the_way_out() {
        let list: Vec<ApiModel> = ["a", "b", "c", "d", "e", "f", "gone-20250101"]
            .iter()
            .map(|i| m(i))
            .collect();
        let e = not_found_error("gone", "HTTP 404", Ok(&list));
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(
            e.message
                .starts_with("model \"gone\" is not available (HTTP 404)"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("Available: a, b, c, d, e (7 in all"),
            "{}",
            e.message
        );
        assert!(e.message.contains("--model") && e.message.contains("SYNAPSE_MODEL"));
        let err = ModelsError::Http {
            status: 500,
            error_type: Some("api_error".into()),
            message: "boom".into(),
        };
        let e = not_found_error("gone", "x", Err(&err));
        assert!(
            e.message.contains(
                "could not be fetched (the Models API returned HTTP 500 api_error: boom)"
            ),
            "{}",
            e.message
        );
        assert!(names("claude-haiku-4-5-20251001", "claude-haiku-4-5"));
        assert!(check_model_name("claude-sonnet-5-5").is_ok());
        for bad in [
            "",
            "  ",
            "\t",
            "claude sonnet",
            " claude-x",
            "a\nb",
            &"x".repeat(257),
        ] {
            assert!(check_model_name(bad).is_err(), "{bad:?}");
        }
        assert!(!names("claude-haiku-4-5", "claude-haiku-4"));
    }
}
