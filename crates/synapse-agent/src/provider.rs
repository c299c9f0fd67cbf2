//! The model provider behind [`crate::Agent`]: one streamed request, with
//! retries, to a final assistant message. Anthropic today
//! ([`crate::anthropic::AnthropicClient`]); an OpenAI-compatible provider
//! can implement the same trait later (it maps its messages to and from the
//! Anthropic shape, which is what sessions store).

use futures::future::BoxFuture;
use serde_json::Value;
use synapse_protocol::{RawMessage, ToolSpec, TurnError, Usage};
use tokio_util::sync::CancellationToken;

/// One request: everything the API call needs.
#[derive(Clone, Debug)]
pub struct ProviderRequest {
    /// Model name.
    pub model: String,
    /// Per-response token limit.
    pub max_tokens: u32,
    /// System prompt (sent with `cache_control`).
    pub system: Option<String>,
    /// Tools (the last one carries `cache_control`).
    pub tools: Vec<ToolSpec>,
    /// Stored messages sent first, as their stored JSON text (spliced into
    /// the body byte for byte, never parsed; ADR 0028).
    pub stored: Vec<RawMessage>,
    /// Anthropic-shaped messages sent after `stored`, oldest first, verbatim.
    pub messages: Vec<Value>,
}

impl ProviderRequest {
    /// The same request without its messages (cheap: no message is copied).
    pub fn clone_without_messages(&self) -> ProviderRequest {
        ProviderRequest {
            model: self.model.clone(),
            max_tokens: self.max_tokens,
            system: self.system.clone(),
            tools: self.tools.clone(),
            stored: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// Parse the `stored` messages into `messages` (in front), for the code
    /// that edits the history (compaction). Sends the same bytes as before.
    pub fn materialize(&mut self) {
        if self.stored.is_empty() {
            return;
        }
        let mut all: Vec<Value> = self.stored.drain(..).map(|m| m.to_value()).collect();
        all.append(&mut self.messages);
        self.messages = all;
    }

    /// How many messages the request sends.
    pub fn message_count(&self) -> usize {
        self.stored.len() + self.messages.len()
    }
}

/// A complete assistant message.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderResponse {
    /// Content blocks, Anthropic-shaped (`text`, `tool_use`, `thinking`, ...).
    pub content: Vec<Value>,
    /// `end_turn`, `tool_use`, `max_tokens`, ...; `None` if the API sent none.
    /// (Usage is reported through [`StreamSink::usage`], for every attempt.)
    pub stop_reason: Option<String>,
}

/// Why a request produced no message.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The cancel token fired.
    #[error("cancelled")]
    Cancelled,
    /// The API failed (after retries where allowed).
    #[error("{}: {}", .0.kind.as_str(), .0.message)]
    Api(TurnError),
}

/// Where a provider reports progress while it streams.
pub trait StreamSink: Send + Sync {
    /// A text delta, forwarded as it arrives.
    fn text(&self, delta: &str);
    /// A retry about to happen after `delay_ms` (1-based `attempt`).
    fn retry(&self, attempt: u32, delay_ms: u64, reason: &str);
    /// The usage of one attempt, once known (non-zero only).
    fn usage(&self, usage: &Usage);
}

/// A model provider.
pub trait Provider: Send + Sync {
    /// Whether requests can be sent at all (e.g. a credential is configured).
    /// A turn that fails here makes no API call and reports 0 iterations.
    fn ready(&self) -> Result<(), TurnError> {
        Ok(())
    }

    /// Whether `model` is known to be available; `None` when not known.
    fn model_available(&self, _model: &str) -> Option<bool> {
        None
    }

    /// This provider sending `credential` with every request (resolved once
    /// for a turn by the caller, ADR 0031), or `None` when it cannot (it
    /// then resolves its credential itself).
    fn with_credential(
        &self,
        _credential: crate::credentials::Resolved,
    ) -> Option<Box<dyn Provider>> {
        None
    }

    /// Stream one request to a complete message. Must return promptly with
    /// [`ProviderError::Cancelled`] once `cancel` fires.
    fn stream<'a>(
        &'a self,
        request: &'a ProviderRequest,
        sink: &'a dyn StreamSink,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ProviderResponse, ProviderError>>;
}
