//! `turn.event`: the notification and the kinds of event it carries.

use super::{ToolResultError, TurnResult, TurnStatus};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
