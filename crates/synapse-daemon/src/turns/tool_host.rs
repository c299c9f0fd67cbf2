//! The turn's tool calls: `tool.invoke` to its host, behind the permission gate.

use std::time::Duration;

use synapse_agent::{BoxFuture, ToolCall, ToolHost, ToolOutcome};
use synapse_protocol::{
    method, ToolCancelParams, ToolErrorEnvelope, ToolInvokeParams, ToolInvokeResult, ToolSpec,
};
use synapse_rpc::{Peer, PeerError};

use crate::hosts::Host;

/// Tool calls go to the turn's host over `tool.invoke`.
pub(super) struct DaemonToolHost {
    pub(super) host: Option<Host>,
    pub(super) tools: Vec<ToolSpec>,
    /// The permission gate (§11).
    pub(super) gate: crate::approvals::Gate,
}

impl ToolHost for DaemonToolHost {
    fn tools(&self) -> Vec<ToolSpec> {
        self.gate.offered(&self.tools)
    }

    fn permit<'a>(
        &'a self,
        call: &'a ToolCall,
        cancel: synapse_agent::CancellationToken,
    ) -> BoxFuture<'a, Result<(), ToolOutcome>> {
        Box::pin(self.gate.permit(&self.tools, call, cancel))
    }

    /// A host tool the turn's mode withheld is `NotPermitted`; a name the
    /// host does not have at all is `UnknownTool`.
    fn not_offered(&self, call: &ToolCall, offered: &[String]) -> ToolOutcome {
        if self.tools.iter().any(|t| t.name == call.name) {
            return crate::approvals::not_permitted_in_read_only(&call.name);
        }
        synapse_agent::tool_host::unknown_tool(call, offered)
    }

    fn invoke(
        &self,
        mut call: ToolCall,
        cancel: synapse_agent::CancellationToken,
    ) -> BoxFuture<'_, ToolOutcome> {
        Box::pin(async move {
            let unavailable = |why: &str| {
                ToolOutcome::error(&ToolErrorEnvelope::synthetic(
                    &call.name,
                    "HostUnavailable",
                    why.to_owned(),
                ))
            };
            let Some(host) = &self.host else {
                return unavailable(
                    "no Houdini host is connected to run this tool; answer without it",
                );
            };
            if host.peer.is_closed() {
                return unavailable("the Houdini host disconnected; answer without its tools");
            }
            let params = ToolInvokeParams {
                call_id: call.call_id.clone(),
                turn_id: call.turn_id.clone(),
                name: call.name.clone(),
                // Moved, not cloned: the input is not needed after this (it may be large).
                input: std::mem::take(&mut call.input),
                timeout_s: call.timeout_s,
            };
            // The agent loop gives up at the same moment (and drops this
            // future); one grace constant for both.
            let wait = synapse_protocol::seconds(call.timeout_s, synapse_protocol::MAX_TIMEOUT_S)
                .unwrap_or(Duration::from_secs_f64(
                    synapse_agent::config::DEFAULT_TOOL_TIMEOUT_S,
                ))
                + synapse_agent::turn::TOOL_GRACE;
            // The agent loop drops this future as soon as the turn is
            // cancelled (or its own tool timeout passes), so `tool.cancel`
            // goes from a drop guard: sent unless the host answered.
            let mut guard = SendToolCancel {
                peer: &host.peer,
                call_id: Some(call.call_id.clone()),
            };
            let reply = tokio::select! {
                r = host.peer.request(method::TOOL_INVOKE, &params, wait) => r,
                () = cancel.cancelled() => {
                    return ToolOutcome::error(&ToolErrorEnvelope::synthetic(&call.name, "Cancelled", "the turn was cancelled"));
                }
            };
            if !matches!(reply, Err(PeerError::Timeout(_))) {
                guard.call_id = None; // answered, or the host is gone
            }
            match reply {
                Ok(v) => match serde_json::from_value::<ToolInvokeResult>(v) {
                    Ok(r) => match synapse_protocol::direct::check_images(&r.images) {
                        Ok(()) => ToolOutcome {
                            is_error: r.is_error,
                            content: r.content,
                            images: r.images,
                        },
                        Err(e) => ToolOutcome::error(&ToolErrorEnvelope::synthetic(
                            &call.name,
                            "InvalidImage",
                            format!("the host's image was refused: {e}"),
                        )),
                    },
                    Err(e) => ToolOutcome::error(&ToolErrorEnvelope::synthetic(
                        &call.name,
                        "InvalidToolResult",
                        format!("the host's answer is not a tool.invoke result: {e}"),
                    )),
                },
                Err(PeerError::Timeout(d)) => {
                    drop(guard); // sends tool.cancel
                    ToolOutcome::error(&ToolErrorEnvelope::synthetic(
                        &call.name,
                        "Timeout",
                        format!("the host did not answer within {:.1} s", d.as_secs_f64()),
                    ))
                }
                Err(PeerError::Disconnected) => {
                    unavailable("the Houdini host disconnected during the call")
                }
                Err(PeerError::Rpc(e)) => ToolOutcome::error(&ToolErrorEnvelope::synthetic(
                    &call.name,
                    "HostError",
                    format!("the host refused the call: {} ({})", e.message, e.code),
                )),
            }
        })
    }
}

/// Sends `tool.cancel {call_id}` to the host when dropped while armed.
pub(super) struct SendToolCancel<'a> {
    pub(super) peer: &'a Peer,
    pub(super) call_id: Option<String>,
}

impl Drop for SendToolCancel<'_> {
    fn drop(&mut self) {
        if let Some(call_id) = self.call_id.take() {
            let _ = self
                .peer
                .notify(method::TOOL_CANCEL, ToolCancelParams { call_id });
        }
    }
}
