//! `turn.*` params and results, permission modes and approval decisions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `turn.submit` params.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TurnSubmitParams {
    /// The user's message.
    pub prompt: String,
    /// Continue this session; absent: a new session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Use this host's tools; absent: this connection's host, else the only host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    /// System prompt override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Model override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Per-response token limit (default 8192).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Most Messages API calls in this turn (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u32>,
    /// Permission mode; absent: the session's last mode, else the config's
    /// `default_mode` (§11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<PermissionMode>,
    /// Spending cap for this turn in USD (overrides the config's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turn_cost_usd: Option<f64>,
}

/// What a turn may do without asking (§11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PermissionMode {
    /// Read-only tools run; every other call waits for approval.
    Ask,
    /// Only read-only tools are offered; any other call is `NotPermitted`.
    ReadOnly,
    /// Non-destructive tools run; destructive ones wait for approval.
    Auto,
}

impl PermissionMode {
    /// The wire name, e.g. `read_only`.
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionMode::Ask => "ask",
            PermissionMode::ReadOnly => "read_only",
            PermissionMode::Auto => "auto",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            PermissionMode::Ask,
            PermissionMode::ReadOnly,
            PermissionMode::Auto,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

impl std::fmt::Display for PermissionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An answer to an `approval_request` (`turn.approve`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Run this call.
    Allow,
    /// Do not run it; the model gets a `DeniedByUser` error result.
    Deny,
    /// Run it, and every later call of this tool in this session.
    AllowSession,
}

/// `turn.approve` params.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnApproveParams {
    /// The turn.
    pub turn_id: String,
    /// The `call_id` of the `approval_request`.
    pub call_id: String,
    /// The answer.
    pub decision: ApprovalDecision,
    /// Why (passed to the model on a deny).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `turn.approve` result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnApproveResult {
    /// False when nothing was pending for that call any more (another
    /// client answered first, or the wait ended).
    pub accepted: bool,
}

/// `turn.submit` result, sent before any `turn.event` of the turn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnSubmitResult {
    /// The new turn.
    pub turn_id: String,
    /// Its session (new or the one given).
    pub session_id: String,
}

/// Params naming one turn (`turn.get`, `turn.cancel`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnRef {
    /// The turn.
    pub turn_id: String,
}

/// `turn.wait` params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TurnWaitParams {
    /// The turn.
    pub turn_id: String,
    /// Give up after this many seconds with `-32002`; absent: wait until final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
}

/// `turn.cancel` result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnCancelResult {
    /// False when the turn was already final.
    pub cancelled: bool,
}

/// `turn.subscribe` params.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnSubscribeParams {
    /// One turn; absent: every turn, present and future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<String>,
}
