//! The script's forms: responses, messages, faults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Longest text substituted for `{{last_tool_result}}`, in characters.
pub const LAST_TOOL_RESULT_MAX_CHARS: usize = 2000;

/// Default usage of faults that send `message_start`.
pub const FAULT_USAGE: ScriptUsage = ScriptUsage {
    cost_usd: None,
    input_tokens: 25,
    output_tokens: 1,
    cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0,
};

/// A script: responses consumed one per request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Script {
    /// In order.
    pub responses: Vec<ScriptResponse>,
}

impl Script {
    /// A script of these responses.
    pub fn new(responses: Vec<ScriptResponse>) -> Self {
        Self { responses }
    }

    /// Parse the JSON form.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Usage reported by a scripted response: the protocol's [`Usage`](synapse_protocol::Usage)
/// (every field optional in the script).
pub type ScriptUsage = synapse_protocol::Usage;

/// One scripted answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScriptResponse {
    /// A fault.
    Fault(Fault),
    /// Exact SSE bytes.
    Raw(RawStream),
    /// A streamed message.
    Message(ScriptMessage),
}

/// A response streamed as exact SSE bytes (a recorded stream).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawStream {
    /// The whole event stream, sent byte for byte.
    pub raw_sse: String,
    /// Chunk size in bytes (default 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_bytes: Option<usize>,
    /// Wait before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

impl ScriptResponse {
    /// A text message ending the turn, usage 10 in / 5 out.
    pub fn text(text: &str) -> Self {
        Self::Message(ScriptMessage {
            content: vec![json!({"type": "text", "text": text})],
            stop_reason: "end_turn".into(),
            usage: ScriptUsage {
                input_tokens: 10,
                output_tokens: 5,
                ..Default::default()
            },
            delay_ms: None,
        })
    }

    /// A message of `content` blocks with `stop_reason` and usage.
    pub fn message(
        content: Vec<Value>,
        stop_reason: &str,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Self {
        Self::Message(ScriptMessage {
            content,
            stop_reason: stop_reason.into(),
            usage: ScriptUsage {
                input_tokens,
                output_tokens,
                ..Default::default()
            },
            delay_ms: None,
        })
    }

    /// A fault of `kind` with default fields.
    pub fn fault(kind: FaultKind) -> Self {
        Self::Fault(Fault {
            fault: kind,
            status: None,
            headers: BTreeMap::new(),
            error_type: None,
            message: None,
            content: None,
            usage: None,
            delay_ms: None,
        })
    }

    /// An `http_status` fault with headers.
    pub fn http_status(status: u16, headers: &[(&str, &str)]) -> Self {
        let mut r = Self::fault(FaultKind::HttpStatus);
        if let Self::Fault(f) = &mut r {
            f.status = Some(status);
            f.headers = headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
        }
        r
    }

    /// Parse one response from JSON.
    pub fn from_value(v: Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(v)
    }

    pub(super) fn delay(&self) -> Option<u64> {
        match self {
            Self::Fault(f) => f.delay_ms,
            Self::Raw(r) => r.delay_ms,
            Self::Message(m) => m.delay_ms,
        }
    }
}

/// A scripted message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptMessage {
    /// Content blocks (`text`, `tool_use`, `thinking`, others verbatim).
    pub content: Vec<Value>,
    /// Default `end_turn`.
    #[serde(default = "end_turn")]
    pub stop_reason: String,
    /// Reported usage.
    #[serde(default)]
    pub usage: ScriptUsage,
    /// Wait before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

fn end_turn() -> String {
    "end_turn".into()
}

/// The fault kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// An HTTP error status with an error body.
    HttpStatus,
    /// 200, `message_start`, then an in-band `overloaded_error`.
    OverloadedInBand,
    /// Some text, then an in-band `overloaded_error`.
    OverloadedAfterText,
    /// `message_start`, then silence with the connection open.
    StallAfterMessageStart,
    /// The connection is closed in the middle of a content block.
    CutMidBlock,
}

/// A scripted fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// Which.
    pub fault: FaultKind,
    /// `http_status`: the status (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Extra response headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// `error.type` (default from the status, or `overloaded_error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// `error.message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `cut_mid_block`: the content whose last block is cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<Value>>,
    /// Usage in `message_start` (default [`FAULT_USAGE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ScriptUsage>,
    /// Wait before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}
