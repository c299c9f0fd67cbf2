//! Params, results and events of every method (contract v1).
//!
//! Field names are the wire names. Optional inputs are `Option` with
//! `#[serde(default)]`; unknown input fields are ignored so that newer
//! clients keep working against this daemon.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Timestamp;

// ---------------------------------------------------------------- shared

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

/// A tool a host offers (`host.register`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolSpec {
    /// Unique within the host, `^[a-zA-Z0-9_-]{1,64}$` as the Messages API requires.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the tool's input (an object schema).
    pub input_schema: Value,
    /// True when the tool does not change the scene (no undo group).
    pub read_only: bool,
    /// True for deletes, arbitrary code and file writes: in mode `auto`
    /// these still wait for approval (§11). Default false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub destructive: bool,
    /// Main-thread timeout for one call; default 30 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The error envelope a failed tool returns as its content (design lesson 5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolErrorEnvelope {
    /// Always `true`.
    pub agent_tool_error: bool,
    /// The tool that failed.
    pub tool_name: String,
    /// Exception class or a synthetic kind: `HostUnavailable`, `Cancelled`,
    /// `Timeout`, `MainThreadBusy`, `ObjectWasDeleted`, ...
    pub error_type: String,
    /// Human-readable message.
    pub error_message: String,
    /// Traceback, at most 4000 characters (empty for synthetic errors).
    pub traceback_str: String,
    /// When the error happened (RFC 3339).
    pub timestamp: String,
}

impl ToolErrorEnvelope {
    /// A synthetic error made by the daemon (no traceback).
    pub fn synthetic(tool_name: &str, error_type: &str, message: impl Into<String>) -> Self {
        Self {
            agent_tool_error: true,
            tool_name: tool_name.to_owned(),
            error_type: error_type.to_owned(),
            error_message: message.into(),
            traceback_str: String::new(),
            timestamp: Timestamp::now().to_string(),
        }
    }

    /// The envelope as compact JSON text with keys sorted: the `content` of
    /// its `tool_result` block (see [`tool_result_block`]).
    pub fn to_json_text(&self) -> String {
        match serde_json::to_value(self) {
            Ok(v) => to_sorted_json(&v),
            Err(_) => "null".to_owned(),
        }
    }
}

// ---------------------------------------------------------------- Anthropic content helpers

/// A JSON value that serializes with object keys sorted at every level,
/// whatever map flavour `serde_json` was built with.
#[derive(Clone, Copy, Debug)]
pub struct SortedJson<'a>(pub &'a Value);

impl Serialize for SortedJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut m = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, &SortedJson(v))?;
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&SortedJson(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// Compact JSON text of `value` with object keys sorted at every level.
pub fn to_sorted_json(value: &Value) -> String {
    serde_json::to_string(&SortedJson(value)).unwrap_or_else(|_| "null".to_owned())
}

/// A Messages API `tool_result` block answering `tool_use_id`, whose
/// `content` is `content_text` (the JSON text of the tool's output, or of a
/// [`ToolErrorEnvelope`] when `is_error`). `is_error` is written only when
/// true.
pub fn tool_result_block(tool_use_id: &str, is_error: bool, content_text: String) -> Value {
    let mut block = serde_json::Map::new();
    block.insert("type".into(), Value::from("tool_result"));
    block.insert("tool_use_id".into(), Value::from(tool_use_id));
    block.insert("content".into(), Value::String(content_text));
    if is_error {
        block.insert("is_error".into(), Value::Bool(true));
    }
    Value::Object(block)
}

/// A `tool_result` block whose content is the JSON text followed by one
/// image block per image (design §13 "Images"); without images it is
/// [`tool_result_block`].
pub fn tool_result_block_with_images(
    tool_use_id: &str,
    is_error: bool,
    content_text: String,
    images: &[crate::direct::ToolImage],
) -> Value {
    let mut block = tool_result_block(tool_use_id, is_error, content_text.clone());
    if images.is_empty() {
        return block;
    }
    let mut content = vec![serde_json::json!({"type": "text", "text": content_text})];
    content.extend(images.iter().map(|img| {
        serde_json::json!({
            "type": "image",
            "source": {"type": "base64", "media_type": img.media_type, "data": img.data}
        })
    }));
    block["content"] = Value::Array(content);
    block
}

/// The concatenated text of the `text` blocks among `blocks`.
pub fn text_of_blocks(blocks: &[Value]) -> String {
    blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect()
}

// ---------------------------------------------------------------- daemon.*

/// `daemon.status` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DaemonStatus {
    /// `synapsed` version (semver).
    pub version: String,
    /// Protocol revision, `1`.
    pub protocol: u32,
    /// Daemon process id.
    pub pid: u32,
    /// When the daemon started.
    pub started_at: Timestamp,
    /// Seconds since start.
    pub uptime_s: f64,
    /// Path of the socket it serves.
    pub socket: String,
    /// Registered hosts.
    pub hosts: Vec<HostInfo>,
    /// Turn counters.
    pub turns: TurnCounts,
    /// Tokens used since this daemon started.
    pub usage: Usage,
    /// Whether an API credential is configured.
    pub auth: AuthState,
    /// Default model.
    pub model: String,
    /// Whether the database is taking writes (a full disk shows here).
    #[serde(default)]
    pub storage: StorageStatus,
    /// Today's spend and the daily cap (§12).
    #[serde(default)]
    pub spend: SpendStatus,
    /// Whether the default model was confirmed available: `true` after a
    /// successful response with it (or when the Models API listed it),
    /// `false` after the API answered it was not found, `null` while not
    /// known. (v2 addition; absent from v1 daemons.)
    #[serde(default)]
    pub model_available: Option<bool>,
}

/// The state of the daemon's storage in `daemon.status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StorageStatus {
    /// False while the last write failed (disk full, I/O error); turns then
    /// end `api_error` with `error.kind: "storage"`. True again after the
    /// next write that succeeds.
    pub ok: bool,
    /// What the last failed write said, while `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When writes started failing, while `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
}

impl Default for StorageStatus {
    fn default() -> Self {
        Self {
            ok: true,
            error: None,
            since: None,
        }
    }
}

/// `daemon.status.spend`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SpendStatus {
    /// USD spent since local midnight (priced requests only), from the store.
    pub today_usd: f64,
    /// The daily cap, `null` when none is set.
    pub daily_budget_usd: Option<f64>,
    /// The per-turn cap from the config, `null` when none is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turn_cost_usd: Option<f64>,
    /// Why a cap cannot apply, e.g. the default model has no price.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Turn counters in `daemon.status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnCounts {
    /// Turns in the agent loop now.
    pub running: u64,
    /// Turns waiting.
    pub queued: u64,
    /// Turns that reached a final status since this daemon started.
    pub finished: u64,
}

/// Whether the daemon has an API credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthState {
    /// `ANTHROPIC_API_KEY` or `ANTHROPIC_AUTH_TOKEN` is set.
    Ok,
    /// No credential: turns will fail with `authentication`.
    Missing,
}

/// A registered host in `daemon.status.hosts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostInfo {
    /// Daemon-assigned id.
    pub host_id: String,
    /// Display name, e.g. `houdini`.
    pub name: String,
    /// Houdini version string.
    pub houdini_version: String,
    /// Houdini's process id.
    pub pid: u32,
    /// The open hip file, if any.
    pub hip: Option<String>,
    /// `hou.isUIAvailable()`.
    pub ui_available: bool,
    /// Number of tools registered.
    pub tools: usize,
    /// When the host registered.
    pub connected_at: Timestamp,
}

/// `daemon.shutdown` result and other empty results: `{}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Empty {}

/// No params: absent, `{}` or `[]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NoParams {}

// ---------------------------------------------------------------- host.*

/// `host.register` params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostRegisterParams {
    /// Display name, e.g. `houdini`.
    pub name: String,
    /// Houdini version string, e.g. `21.0.440`.
    pub houdini_version: String,
    /// Houdini's process id.
    pub pid: u32,
    /// `hou.hipFile.path()`.
    #[serde(default)]
    pub hip: Option<String>,
    /// `hou.isUIAvailable()`.
    pub ui_available: bool,
    /// The tools this host serves.
    pub tools: Vec<ToolSpec>,
}

/// `host.register` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostRegisterResult {
    /// The id to name this host in `turn.submit`.
    pub host_id: String,
}

// ---------------------------------------------------------------- turn.*

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

/// `turn.event` notification params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TurnEvent {
    /// The turn.
    pub turn_id: String,
    /// Counts from 0 per turn; a gap means dropped progress events.
    pub seq: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: TurnEventKind,
}

/// The `type` of a [`TurnEvent`] and its fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TurnEventKind {
    /// The turn's status changed.
    Status {
        /// The new status.
        status: TurnStatus,
    },
    /// A text delta from the model.
    Text {
        /// The delta.
        text: String,
    },
    /// The model asked for a tool; it is about to be dispatched.
    ToolCall {
        /// The `tool_use` id.
        call_id: String,
        /// Tool name.
        name: String,
        /// Tool input.
        input: Value,
    },
    /// A tool call finished.
    ToolResult {
        /// The `tool_use` id.
        call_id: String,
        /// True for an error envelope.
        is_error: bool,
        /// Dispatch to result.
        duration_ms: u64,
        /// With `is_error`: the envelope's `error_type` and (clipped)
        /// `error_message`, so a client can show why at once, also for errors
        /// the daemon made (`UnknownTool`, `NotPermitted`, `ToolResultTooLarge`...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ToolResultError>,
    },
    /// The API call failed and will be retried after `delay_ms`.
    Retry {
        /// 1-based number of the retry about to happen.
        attempt: u32,
        /// The wait actually taken before it.
        delay_ms: u64,
        /// Why, e.g. `HTTP 529 overloaded_error`.
        reason: String,
    },
    /// The history sent to the model was compacted to fit its context
    /// window (the stored history is never changed).
    Compaction {
        /// `elide` (older tool results replaced by a note) or `summary`
        /// (the oldest turns replaced by a summary made by the model).
        method: String,
        /// Estimated input tokens before.
        tokens_before: u64,
        /// Estimated input tokens after.
        tokens_after: u64,
    },
    /// The turn is final. Never dropped.
    Done {
        /// The outcome.
        result: TurnResult,
    },
    /// A tool call waits for the artist's answer (`turn.approve`). Never
    /// dropped.
    ApprovalRequest {
        /// The `tool_use` id.
        call_id: String,
        /// Tool name.
        name: String,
        /// Tool input.
        input: Value,
        /// The tool's `destructive` flag.
        destructive: bool,
    },
}

impl TurnEventKind {
    /// True for `done`, the one event that ends a turn's stream.
    pub fn is_done(&self) -> bool {
        matches!(self, TurnEventKind::Done { .. })
    }

    /// True for the events never dropped for a slow reader: `done` and
    /// `approval_request`.
    pub fn is_required(&self) -> bool {
        matches!(
            self,
            TurnEventKind::Done { .. } | TurnEventKind::ApprovalRequest { .. }
        )
    }
}

// ---------------------------------------------------------------- session.*

/// One entry of `session.list`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionSummary {
    /// The session.
    pub session_id: String,
    /// When its first turn was submitted.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Number of turns.
    pub turns: u64,
    /// The start of its first prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Default number of sessions in one `session.list` page.
pub const SESSION_PAGE_DEFAULT: u32 = 100;
/// Most sessions or messages in one page (`session.list`, `session.get`).
pub const PAGE_MAX: u32 = 1000;

/// `session.list` params (all optional: absent is the first page of 100).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionListParams {
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Cursor: only sessions updated strictly before this timestamp (the
    /// `updated_at` of the last session of the previous page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

/// `session.get` params (v1: `session_id` only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionRef {
    /// The session.
    pub session_id: String,
    /// Only messages after this 0-based index (the first returned is
    /// `after + 1`); absent: from the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
    /// At most this many messages, 1 to 1000; absent: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `session.get` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionDetail {
    /// The session.
    pub session_id: String,
    /// The conversation as Anthropic Messages API `messages` (the page
    /// asked for: from index `after + 1`, at most `limit`).
    pub messages: Vec<Value>,
    /// Its turns, oldest first.
    pub turns: Vec<TurnInfo>,
    /// How many messages the whole session has.
    #[serde(default)]
    pub message_count: u64,
}

// ---------------------------------------------------------------- tool.* (daemon → host)

/// `tool.invoke` params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolInvokeParams {
    /// The model's `tool_use` id.
    pub call_id: String,
    /// The turn asking.
    pub turn_id: String,
    /// Tool name.
    pub name: String,
    /// Tool input.
    pub input: Value,
    /// Main-thread timeout; the host answers within `timeout_s + 1`.
    pub timeout_s: f64,
}

/// `tool.invoke` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolInvokeResult {
    /// True when `content` is a [`ToolErrorEnvelope`].
    pub is_error: bool,
    /// The tool's JSON output, or the error envelope.
    pub content: Value,
    /// Images the tool produced (design §13 "Images"), checked with
    /// [`crate::direct::check_images`] when received.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<crate::direct::ToolImage>,
}

/// `tool.cancel` notification params.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ToolCancelParams {
    /// The call to drop if it has not started.
    pub call_id: String,
}

// ---------------------------------------------------------------- CLI

/// The one line `synapsed serve` prints on stdout once it accepts connections.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReadyLine {
    /// Always `true`.
    pub ready: bool,
    /// The socket path.
    pub socket: String,
    /// Daemon pid.
    pub pid: u32,
    /// `synapsed` version.
    pub version: String,
    /// Protocol revision.
    pub protocol: u32,
}

/// Why a tool call failed, as carried by a `tool_result` [`TurnEvent`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ToolResultError {
    /// The envelope's `error_type` (`ToolError` when the content was not an envelope).
    pub error_type: String,
    /// The envelope's `error_message`, at most [`ToolResultError::MAX_MESSAGE_CHARS`] characters.
    pub message: String,
}

impl ToolResultError {
    /// The longest `message` carried by an event (the model gets the whole text).
    pub const MAX_MESSAGE_CHARS: usize = 2000;

    /// The error summary of a failed tool's result `text` (the JSON sent to the model).
    pub fn from_result_text(text: &str) -> Self {
        let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let error_type = field("error_type").unwrap_or_else(|| "ToolError".to_owned());
        let message = field("error_message").unwrap_or_else(|| text.to_owned());
        let message = if message.chars().count() > Self::MAX_MESSAGE_CHARS {
            let mut clipped: String = message.chars().take(Self::MAX_MESSAGE_CHARS - 1).collect();
            clipped.push('…');
            clipped
        } else {
            message
        };
        Self {
            error_type,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_json_sorts_nested_keys() {
        let v = json!({"b":1,"a":{"d":[{"y":1,"x":2}],"c":null}});
        assert_eq!(
            to_sorted_json(&v),
            r#"{"a":{"c":null,"d":[{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn envelope_text_is_sorted_and_compact() {
        let mut env = ToolErrorEnvelope::synthetic("inspect", "Timeout", "slow");
        env.timestamp = "t".into();
        assert_eq!(
            env.to_json_text(),
            r#"{"agent_tool_error":true,"error_message":"slow","error_type":"Timeout","timestamp":"t","tool_name":"inspect","traceback_str":""}"#
        );
    }

    #[test]
    fn tool_result_block_shape() {
        assert_eq!(
            tool_result_block("a", false, "{}".into()),
            json!({"type": "tool_result", "tool_use_id": "a", "content": "{}"})
        );
        assert_eq!(
            tool_result_block("b", true, "x".into()),
            json!({"type": "tool_result", "tool_use_id": "b", "content": "x", "is_error": true})
        );
        assert_eq!(
            text_of_blocks(&[
                json!({"type": "text", "text": "a"}),
                json!({"type": "tool_use"}),
                json!({"type": "text", "text": "b"})
            ]),
            "ab"
        );
    }

    #[test]
    fn event_is_flat_with_type_tag() {
        let e = TurnEvent {
            turn_id: "t".into(),
            seq: 3,
            kind: TurnEventKind::Text { text: "hi".into() },
        };
        assert_eq!(
            serde_json::to_value(&e).expect("ser"),
            json!({"turn_id":"t","seq":3,"type":"text","text":"hi"})
        );
        let back: TurnEvent = serde_json::from_value(
            json!({"turn_id":"t","seq":0,"type":"status","status":"running"}),
        )
        .expect("de");
        assert_eq!(
            back.kind,
            TurnEventKind::Status {
                status: TurnStatus::Running
            }
        );
    }

    #[test]
    fn statuses_round_trip_and_know_finality() {
        for s in TurnStatus::ALL {
            assert_eq!(TurnStatus::parse(s.as_str()), Some(s));
            let v = serde_json::to_value(s).expect("ser");
            assert_eq!(v, json!(s.as_str()));
        }
        assert!(!TurnStatus::Queued.is_final());
        assert!(TurnStatus::Interrupted.is_final());
    }

    #[test]
    fn usage_adds_saturating() {
        let mut u = Usage {
            input_tokens: u64::MAX,
            ..Default::default()
        };
        u.add(&Usage {
            input_tokens: 1,
            output_tokens: 2,
            ..Default::default()
        });
        assert_eq!(u.input_tokens, u64::MAX);
        assert_eq!(u.output_tokens, 2);
    }
}
