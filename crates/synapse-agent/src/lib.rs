//! The Synapse agent loop, independent of sockets.
//!
//! [`Agent::run_turn`] runs one turn of a session against a [`Provider`]
//! (the Anthropic Messages API, streamed over SSE, see [`anthropic`]):
//! it streams each response, forwards text deltas to a [`TurnObserver`],
//! runs the model's tool calls through a [`ToolHost`], hands every
//! completed message to the observer for persistence, retries the API as
//! the official SDKs do, honours cancellation at once, and always returns a
//! final [`TurnResult`].
//!
//! Decisions (see also the module docs):
//! - `pause_turn` is continued: the paused assistant message is sent back
//!   as is on the next iteration (which counts against `max_iterations`).
//! - A cancelled turn's assistant message that was still streaming is not
//!   persisted; everything completed before is.
//! - Usage is reported per API attempt exactly as the stream reported it
//!   (`message_start`, then the last cumulative `message_delta`), also for
//!   attempts that failed or were cancelled; an attempt without usage adds
//!   nothing.

pub mod anthropic;
pub mod config;
pub mod config_keys;
pub mod context;
pub mod credentials;
pub mod models;
pub mod observer;
mod oversize;
pub mod provider;
pub mod tool_host;
pub mod turn;

use std::sync::Arc;

pub use config::{ConfigError, Secret, Settings};
pub use futures::future::BoxFuture;
pub use observer::TurnObserver;
pub use provider::{Provider, ProviderError, ProviderRequest, ProviderResponse, StreamSink};
pub use synapse_protocol::{
    ErrorKind, Timestamp, ToolCallRecord, ToolErrorEnvelope, ToolSpec, TurnError, TurnEventKind,
    TurnResult, TurnStatus, Usage,
};
pub use tokio_util::sync::CancellationToken;
pub use tool_host::{NoTools, ToolCall, ToolHost, ToolOutcome};
pub use turn::TurnSpec;

/// The agent: a provider plus settings. Cheap to share (`Arc<Agent>`); many
/// turns may run on it at once.
pub struct Agent {
    settings: Settings,
    provider: Arc<dyn Provider>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// An agent talking to the Anthropic Messages API at `settings.base_url`.
    /// A missing credential is not an error here (turns then fail with
    /// `authentication` without calling the API).
    pub fn new(settings: Settings) -> Result<Self, ConfigError> {
        settings.validate()?;
        let provider = anthropic::AnthropicClient::new(&settings)?;
        Ok(Self {
            settings,
            provider: Arc::new(provider),
        })
    }

    /// An agent talking to the Anthropic Messages API whose credential is
    /// asked of `credentials` before each request (a key stored after start
    /// is used at the next turn).
    pub fn with_credentials(
        settings: Settings,
        credentials: Arc<dyn credentials::CredentialResolver>,
    ) -> Result<Self, ConfigError> {
        settings.validate()?;
        let provider = anthropic::AnthropicClient::with_credentials(&settings, credentials)?;
        Ok(Self {
            settings,
            provider: Arc::new(provider),
        })
    }

    /// Whether a credential can be found now (`Err` says why not, without
    /// the credential).
    pub fn credential_ready(&self) -> Result<(), TurnError> {
        self.provider.ready()
    }

    /// An agent using another provider (an in-memory one for tests and
    /// benchmarks, or a future OpenAI-compatible one).
    pub fn with_provider(settings: Settings, provider: Arc<dyn Provider>) -> Self {
        Self { settings, provider }
    }

    /// The settings this agent was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether `model` is known to be available (`Some(true)` after a
    /// successful response or when the models list names it, `Some(false)`
    /// after a 404), `None` when not known yet.
    pub fn model_available(&self, model: &str) -> Option<bool> {
        self.provider.model_available(model)
    }

    /// Run one turn to a final status. Never panics on bad input or network
    /// trouble; see [`turn`] for the rules.
    pub async fn run_turn(
        &self,
        mut spec: TurnSpec,
        host: &dyn ToolHost,
        observer: &dyn TurnObserver,
        cancel: CancellationToken,
    ) -> TurnResult {
        // A credential the caller resolved for this turn is used for all of
        // its requests (not resolved again per request).
        let for_turn = spec
            .credential
            .take()
            .and_then(|c| self.provider.with_credential(c));
        turn::run(
            &self.settings,
            for_turn.as_deref().unwrap_or(self.provider.as_ref()),
            spec,
            host,
            observer,
            cancel,
        )
        .await
    }
}
