//! Tools: what a host offers (`host.register`), the error envelope, and the daemon → host `tool.*` calls.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::to_sorted_json;
#[cfg(doc)]
use super::TurnEvent;
use crate::Timestamp;

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
    /// its `tool_result` block (see [`tool_result_block`](super::tool_result_block)).
    pub fn to_json_text(&self) -> String {
        match serde_json::to_value(self) {
            Ok(v) => to_sorted_json(&v),
            Err(_) => "null".to_owned(),
        }
    }
}

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
