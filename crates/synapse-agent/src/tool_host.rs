//! The tools a turn may call, as seen by the loop.

use futures::future::BoxFuture;
use serde_json::Value;
use synapse_protocol::ToolSpec;
use tokio_util::sync::CancellationToken;

/// One tool call, as sent to the host (`tool.invoke` params).
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// The model's `tool_use` id.
    pub call_id: String,
    /// The turn asking.
    pub turn_id: String,
    /// Tool name.
    pub name: String,
    /// The input the model gave.
    pub input: Value,
    /// Timeout for the call: the `ToolSpec`'s, else 30 s.
    pub timeout_s: f64,
}

/// What a tool returned (`tool.invoke` result).
#[derive(Clone, Debug, PartialEq)]
pub struct ToolOutcome {
    /// True when `content` is an error envelope.
    pub is_error: bool,
    /// The tool's JSON output or its `ToolErrorEnvelope`.
    pub content: Value,
    /// Images the tool produced (checked by the host side); sent to the model
    /// as image blocks after the JSON text.
    pub images: Vec<synapse_protocol::direct::ToolImage>,
}

impl ToolOutcome {
    /// A failure described by `envelope`.
    pub fn error(envelope: &synapse_protocol::ToolErrorEnvelope) -> Self {
        Self {
            is_error: true,
            content: serde_json::to_value(envelope).unwrap_or(Value::Null),
            images: Vec::new(),
        }
    }

    /// A success with `content`.
    pub fn ok(content: Value) -> Self {
        Self {
            is_error: false,
            content,
            images: Vec::new(),
        }
    }
}

/// Runs tool calls for a turn (the daemon forwards them to a Houdini host).
///
/// `invoke` must resolve: with the tool's output, or with an error envelope
/// (`Timeout`, `HostUnavailable`, ...). When `cancel` fires the loop stops
/// waiting at once (and drops the future); the host should then send
/// `tool.cancel` best effort. A host that never answers is cut off by the
/// loop after the call's `timeout_s` plus a 2 s grace.
pub trait ToolHost: Send + Sync {
    /// The tools offered to the model, in a stable order (the order is part
    /// of the cached prompt prefix).
    fn tools(&self) -> Vec<ToolSpec>;

    /// Run one call.
    fn invoke(&self, call: ToolCall, cancel: CancellationToken) -> BoxFuture<'_, ToolOutcome>;

    /// The result of a call to a tool that was not among the tools sent
    /// with the request (the model made the name up, or the turn's mode
    /// withheld it). The host is never asked to run it. The default is an
    /// `UnknownTool` error naming the tools that were offered; a host that
    /// withholds tools by mode answers `NotPermitted` for those.
    fn not_offered(&self, call: &ToolCall, offered: &[String]) -> ToolOutcome {
        unknown_tool(call, offered)
    }

    /// May `call` run? Awaited right before [`ToolHost::invoke`], outside the
    /// call's timeout (the daemon waits here for the artist's approval,
    /// §11). `Err(outcome)`: the call does not run and `outcome` (an error
    /// envelope such as `DeniedByUser`, `NotPermitted`, `ApprovalTimeout`) is
    /// its result. When `cancel` fires the loop stops waiting at once (and
    /// drops the future). The default permits every call.
    fn permit<'a>(
        &'a self,
        _call: &'a ToolCall,
        _cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<(), ToolOutcome>> {
        Box::pin(async { Ok(()) })
    }
}

/// The `UnknownTool` result of a call to a tool that was not offered (the
/// default of [`ToolHost::not_offered`]).
pub fn unknown_tool(call: &ToolCall, offered: &[String]) -> ToolOutcome {
    let list = if offered.is_empty() {
        "no tools were offered in this turn".to_owned()
    } else {
        format!("the tools offered are: {}", offered.join(", "))
    };
    ToolOutcome::error(&synapse_protocol::ToolErrorEnvelope::synthetic(
        &call.name,
        "UnknownTool",
        format!("there is no tool named {:?}; {list}", call.name),
    ))
}

/// A host without tools: the model gets none, and any call it still makes
/// (from an older history) gets a `HostUnavailable` error result.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTools;

impl ToolHost for NoTools {
    fn tools(&self) -> Vec<ToolSpec> {
        Vec::new()
    }

    fn invoke(&self, call: ToolCall, _cancel: CancellationToken) -> BoxFuture<'_, ToolOutcome> {
        Box::pin(async move {
            ToolOutcome::error(&synapse_protocol::ToolErrorEnvelope::synthetic(
                &call.name,
                "HostUnavailable",
                "no Houdini host is connected to run this tool",
            ))
        })
    }
}
