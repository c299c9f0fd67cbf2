//! Turn outcomes: status, usage, errors, tool-call records and `TurnInfo`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PermissionMode;
use crate::Timestamp;

/// Token counts as reported by the Messages API. Never invented: a
/// round-trip that reported no usage adds nothing. `cost_usd` is what those
/// tokens cost at the model's price (§12); `null` when the price is unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    /// Uncached input tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Generated tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    /// Cost in USD at the model's price; `null` when the price is unknown
    /// (or for usage as the API reports it, before it is priced).
    #[serde(default)]
    pub cost_usd: Option<f64>,
}

impl Usage {
    /// Add another record to this one (saturating).
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_read_input_tokens = self
            .cache_read_input_tokens
            .saturating_add(other.cache_read_input_tokens);
        self.cache_creation_input_tokens = self
            .cache_creation_input_tokens
            .saturating_add(other.cache_creation_input_tokens);
        if let Some(c) = other.cost_usd {
            self.cost_usd = Some(self.cost_usd.unwrap_or(0.0) + c);
        }
    }

    /// True when every token count is zero (the cost is not looked at).
    pub fn is_zero(&self) -> bool {
        self.input_tokens == 0
            && self.output_tokens == 0
            && self.cache_read_input_tokens == 0
            && self.cache_creation_input_tokens == 0
    }
}

/// Where a turn is in its life. The first two are non-final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TurnStatus {
    /// Accepted, waiting for its session or for a concurrency slot.
    Queued,
    /// The agent loop is working on it.
    Running,
    /// The model ended its turn (`end_turn` or `stop_sequence`).
    Complete,
    /// Cancelled by a client, by `daemon.shutdown` or by a signal.
    Cancelled,
    /// The Messages API failed (after retries); see `error`.
    ApiError,
    /// `max_iterations` API calls were made and the model still wanted tools.
    MaxIterations,
    /// The model hit `max_tokens`.
    MaxTokens,
    /// The model refused.
    Refusal,
    /// The daemon died during the turn; found at the next start.
    Interrupted,
    /// The API returned a `stop_reason` this build does not know.
    UnknownStopReason,
    /// Non-final: running, but a tool call waits for the artist's approval
    /// (`turn.approve`, §11).
    AwaitingApproval,
    /// A spending cap (`max_turn_cost_usd` or `daily_budget_usd`) was reached
    /// before a request; `error.kind` is `budget` (§12).
    BudgetExceeded,
}

impl TurnStatus {
    /// Every status, in declaration order.
    pub const ALL: [TurnStatus; 12] = [
        TurnStatus::Queued,
        TurnStatus::Running,
        TurnStatus::Complete,
        TurnStatus::Cancelled,
        TurnStatus::ApiError,
        TurnStatus::MaxIterations,
        TurnStatus::MaxTokens,
        TurnStatus::Refusal,
        TurnStatus::Interrupted,
        TurnStatus::UnknownStopReason,
        TurnStatus::AwaitingApproval,
        TurnStatus::BudgetExceeded,
    ];

    /// True for every status but `queued`, `running` and `awaiting_approval`.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            TurnStatus::Queued | TurnStatus::Running | TurnStatus::AwaitingApproval
        )
    }

    /// The wire name, e.g. `api_error`.
    pub fn as_str(self) -> &'static str {
        match self {
            TurnStatus::Queued => "queued",
            TurnStatus::Running => "running",
            TurnStatus::Complete => "complete",
            TurnStatus::Cancelled => "cancelled",
            TurnStatus::ApiError => "api_error",
            TurnStatus::MaxIterations => "max_iterations",
            TurnStatus::MaxTokens => "max_tokens",
            TurnStatus::Refusal => "refusal",
            TurnStatus::Interrupted => "interrupted",
            TurnStatus::UnknownStopReason => "unknown_stop_reason",
            TurnStatus::AwaitingApproval => "awaiting_approval",
            TurnStatus::BudgetExceeded => "budget_exceeded",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for TurnStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a turn failed (`TurnResult.error.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 401: missing or wrong API key.
    Authentication,
    /// 403.
    Permission,
    /// 400 or 422.
    InvalidRequest,
    /// 404.
    NotFound,
    /// 413.
    RequestTooLarge,
    /// 429 after retries.
    RateLimit,
    /// 529 or `overloaded_error` after retries.
    Overloaded,
    /// Other 5xx after retries.
    Server,
    /// Could not connect, or the connection broke.
    Connection,
    /// Connect or stream-idle timeout.
    Timeout,
    /// The event stream was malformed or ended early.
    Stream,
    /// A daemon bug.
    Internal,
    /// The daemon could not save the turn (disk full, I/O error): the turn
    /// stopped rather than report something it could not keep.
    Storage,
    /// A spending cap was reached (status `budget_exceeded`).
    Budget,
}

impl ErrorKind {
    /// The wire name, e.g. `rate_limit`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Authentication => "authentication",
            ErrorKind::Permission => "permission",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RequestTooLarge => "request_too_large",
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Server => "server",
            ErrorKind::Connection => "connection",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Stream => "stream",
            ErrorKind::Internal => "internal",
            ErrorKind::Storage => "storage",
            ErrorKind::Budget => "budget",
        }
    }
}

/// The error of a failed turn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnError {
    /// Machine-readable class.
    pub kind: ErrorKind,
    /// One human-readable sentence; never contains the API key.
    pub message: String,
}

/// One tool call made during a turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolCallRecord {
    /// The model's `tool_use` id.
    pub call_id: String,
    /// Tool name.
    pub name: String,
    /// The input the model gave.
    pub input: Value,
    /// True when the result was an error envelope (including synthetic ones).
    pub is_error: bool,
    /// Wall time from dispatch to result.
    pub duration_ms: u64,
}

/// The final outcome of a turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TurnResult {
    /// The turn.
    pub turn_id: String,
    /// Its session.
    pub session_id: String,
    /// A final status.
    pub status: TurnStatus,
    /// The text of the turn's last assistant message (empty if none).
    pub text: String,
    /// Messages API calls made.
    pub iterations: u32,
    /// Every tool call, in order.
    pub tool_calls: Vec<ToolCallRecord>,
    /// Tokens paid for by this turn (also when cancelled).
    pub usage: Usage,
    /// Present when the turn failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TurnError>,
    /// When the turn started running (for a turn that never ran: when it ended).
    pub started_at: Timestamp,
    /// When it reached its final status.
    pub finished_at: Timestamp,
    /// The turn's permission mode (§11); absent for turns stored before modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<PermissionMode>,
}

/// A turn as seen by `turn.get` and `session.get`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TurnInfo {
    /// The turn.
    pub turn_id: String,
    /// Its session.
    pub session_id: String,
    /// Current status.
    pub status: TurnStatus,
    /// The user's prompt.
    pub prompt: String,
    /// The host whose tools it uses, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    /// When it was submitted.
    pub created_at: Timestamp,
    /// When it started running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it became final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Present once the status is final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TurnResult>,
    /// The turn's permission mode (§11); absent for turns stored before modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<PermissionMode>,
}
