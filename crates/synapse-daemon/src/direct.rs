//! Direct tool calls without the model: `host.list`, `tool.call`,
//! `tool.call.cancel` (design §13 "Direct calls"; ADR 0017).
//!
//! A `tool.call` becomes one `tool.invoke` on the chosen host with the same
//! rules as a turn's calls (`DaemonToolHost` in [`crate::turns`]): the wait is
//! the call's timeout plus [`synapse_agent::turn::TOOL_GRACE`], and
//! `tool.cancel {call_id}` goes to the host whenever the call ends without
//! the host's answer (timeout, `tool.call.cancel`, the client going away),
//! sent from a drop guard so no path forgets it. Everything the host may send
//! back is checked: a result that is not a `tool.invoke` result, or an image
//! that fails [`check_images`], becomes an error envelope; nothing a peer
//! sends can panic here.
//!
//! Pending calls are keyed by `call_id` (client-chosen, unique among pending
//! calls, else made here). The `tool.invoke` `turn_id` of a direct call is
//! `direct_<call_id>`, so the plugin's per-turn undo treats each direct call
//! as its own turn.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonrpsee_core::server::{Extensions, RpcModule};
use jsonrpsee_core::RegisterMethodError;
use jsonrpsee_types::ErrorObjectOwned;
use serde_json::Value;
use synapse_protocol::direct::{check_images, MAX_CALL_ID_LEN, MAX_CALL_TIMEOUT_S};
use synapse_protocol::{
    code, method, HostListEntry, NoParams, ToolCallCancelParams, ToolCallCancelResult,
    ToolCallParams, ToolCallResult, ToolCancelParams, ToolErrorEnvelope, ToolInvokeParams,
    ToolInvokeResult,
};
use synapse_rpc::dispatch::parse_params;
use synapse_rpc::{Peer, PeerError};
use tokio_util::sync::CancellationToken;

use crate::hosts::{Host, Hosts};
use crate::methods::{invalid_params, rpc_error};
use crate::state::State;

/// Default main-thread timeout of a call when neither the call nor the tool sets one.
pub const DEFAULT_TIMEOUT_S: f64 = 30.0;

/// Why a `tool.call` was refused before reaching a host.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// `-32001`: no such host, or no such tool on it.
    #[error("Not found: {0}")]
    NotFound(String),
    /// `-32003`: no host registered, or several and none named.
    #[error("No host: {0}")]
    NoHost(String),
    /// `-32602`.
    #[error("{0}")]
    InvalidParams(String),
}

impl From<DirectError> for ErrorObjectOwned {
    fn from(e: DirectError) -> Self {
        match e {
            DirectError::NotFound(_) => rpc_error(code::NOT_FOUND, e.to_string()),
            DirectError::NoHost(_) => rpc_error(code::NO_HOST, e.to_string()),
            DirectError::InvalidParams(m) => invalid_params(m),
        }
    }
}

#[derive(Debug)]
struct Pending {
    serial: u64,
    host: Peer,
    tool: String,
    cancel: CancellationToken,
}

/// Pending `tool.call`s by `call_id`.
#[derive(Debug, Default)]
pub struct DirectCalls {
    pending: Mutex<HashMap<String, Pending>>,
    serial: AtomicU64,
}

/// The `host.list` entry of a host.
pub fn list_entry(h: &Host) -> HostListEntry {
    HostListEntry {
        host_id: h.host_id.clone(),
        name: h.params.name.clone(),
        houdini_version: h.params.houdini_version.clone(),
        pid: h.params.pid,
        hip: h.params.hip.clone(),
        ui_available: h.params.ui_available,
        connected_at: h.connected_at,
        tools: h.params.tools.clone(),
    }
}

fn describe(h: &Host) -> String {
    format!(
        "{} ({} {}, pid {}, hip {})",
        h.host_id,
        h.name,
        h.params.houdini_version,
        h.params.pid,
        h.params.hip.as_deref().unwrap_or("none")
    )
}

/// The host a call goes to: the named one, else the only one.
pub fn choose_host(hosts: &Hosts, host_id: Option<&str>) -> Result<Host, DirectError> {
    if let Some(id) = host_id {
        return hosts
            .get(id)
            .ok_or_else(|| DirectError::NotFound(format!("host {id}")));
    }
    let mut all = hosts.all();
    match all.len() {
        0 => Err(DirectError::NoHost(
            "no Houdini host is registered (start Houdini with the Synapse plugin)".into(),
        )),
        1 => Ok(all.remove(0)),
        n => Err(DirectError::NoHost(format!(
            "{n} hosts are registered; name one with host_id: {}",
            all.iter().map(describe).collect::<Vec<_>>().join("; ")
        ))),
    }
}

/// `timeout_s` in (0, 3600], else a clear `-32602` message.
pub fn check_timeout(timeout_s: Option<f64>) -> Result<Option<f64>, DirectError> {
    match timeout_s {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s <= MAX_CALL_TIMEOUT_S => Ok(Some(s)),
        Some(s) => Err(DirectError::InvalidParams(format!(
            "timeout_s must be a number of seconds in (0, {MAX_CALL_TIMEOUT_S}], got {s}"
        ))),
    }
}

impl DirectCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls waiting for their host.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    /// `tool.call.cancel`: send `tool.cancel` to the host and end the pending
    /// call with a `Cancelled` envelope. False when no such call is pending.
    pub fn cancel(&self, call_id: &str) -> bool {
        let Some(p) = self.lock().remove(call_id) else {
            return false;
        };
        tracing::info!(call_id, tool = %p.tool, "tool.call cancelled by the client");
        let _ = p.host.notify(
            method::TOOL_CANCEL,
            ToolCancelParams {
                call_id: call_id.to_owned(),
            },
        );
        p.cancel.cancel();
        true
    }

    /// Run one `tool.call` for `caller`.
    pub async fn call(
        &self,
        hosts: &Hosts,
        p: ToolCallParams,
        caller: &Peer,
    ) -> Result<ToolCallResult, DirectError> {
        let timeout_override = check_timeout(p.timeout_s)?;
        if !p.input.is_object() {
            return Err(DirectError::InvalidParams(
                "input must be a JSON object (the tool's arguments)".into(),
            ));
        }
        if let Some(id) = &p.call_id {
            if id.is_empty() || id.chars().count() > MAX_CALL_ID_LEN {
                return Err(DirectError::InvalidParams(format!(
                    "call_id must be 1..={MAX_CALL_ID_LEN} characters"
                )));
            }
        }
        let host = choose_host(hosts, p.host_id.as_deref())?;
        let Some(spec) = host.tools().iter().find(|t| t.name == p.name) else {
            return Err(DirectError::NotFound(format!(
                "tool {:?} on host {}",
                p.name, host.host_id
            )));
        };
        let timeout_s = timeout_override
            .or(spec.timeout_s)
            .unwrap_or(DEFAULT_TIMEOUT_S)
            .min(MAX_CALL_TIMEOUT_S);
        let call_id = p
            .call_id
            .clone()
            .unwrap_or_else(|| format!("call_{}", uuid::Uuid::now_v7().simple()));
        let cancel = CancellationToken::new();
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        {
            let mut map = self.lock();
            if map.contains_key(&call_id) {
                return Err(DirectError::InvalidParams(format!(
                    "call_id {call_id:?} is already pending"
                )));
            }
            map.insert(
                call_id.clone(),
                Pending {
                    serial,
                    host: host.peer.clone(),
                    tool: p.name.clone(),
                    cancel: cancel.clone(),
                },
            );
        }
        let mut guard = Guard {
            calls: self,
            call_id: call_id.clone(),
            serial,
            armed: true,
        };
        let envelope = |error_type: &str, msg: String| {
            ToolCallResult::error(&ToolErrorEnvelope::synthetic(&p.name, error_type, msg))
        };
        if host.peer.is_closed() {
            guard.armed = false;
            return Ok(envelope(
                "HostUnavailable",
                "the Houdini host disconnected".into(),
            ));
        }
        let params = ToolInvokeParams {
            call_id: call_id.clone(),
            turn_id: format!("direct_{call_id}"),
            name: p.name.clone(),
            input: p.input,
            timeout_s,
        };
        let wait = Duration::from_secs_f64(timeout_s) + synapse_agent::turn::TOOL_GRACE;
        let reply = tokio::select! {
            r = host.peer.request(method::TOOL_INVOKE, &params, wait) => r,
            () = cancel.cancelled() => {
                // `cancel` already sent tool.cancel and removed the entry.
                return Ok(envelope("Cancelled", "the call was cancelled (tool.call.cancel)".into()));
            }
            () = caller.read_ended() => {
                // The guard sends tool.cancel.
                return Ok(envelope("Cancelled", "the client disconnected".into()));
            }
        };
        if !matches!(reply, Err(PeerError::Timeout(_))) {
            guard.armed = false; // answered, or the host is gone
        }
        Ok(match reply {
            Ok(v) => match serde_json::from_value::<ToolInvokeResult>(v) {
                Ok(r) => match check_images(&r.images) {
                    Ok(()) => r,
                    Err(e) => envelope("InvalidImage", e.to_string()),
                },
                Err(e) => envelope(
                    "InvalidToolResult",
                    format!("the host's answer is not a tool.invoke result: {e}"),
                ),
            },
            Err(PeerError::Timeout(d)) => envelope(
                "Timeout",
                format!("the host did not answer within {:.1} s", d.as_secs_f64()),
            ),
            Err(PeerError::Disconnected) => envelope(
                "HostUnavailable",
                "the Houdini host disconnected during the call".into(),
            ),
            Err(PeerError::Rpc(e)) => envelope(
                "HostError",
                format!("the host refused the call: {} ({})", e.message, e.code),
            ),
        })
    }
}

/// Removes a call from the pending map when it ends, and sends `tool.cancel`
/// to the host when it ends without the host's answer.
struct Guard<'a> {
    calls: &'a DirectCalls,
    call_id: String,
    serial: u64,
    armed: bool,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let mine = {
            let mut map = self.calls.lock();
            match map.get(&self.call_id) {
                Some(p) if p.serial == self.serial => map.remove(&self.call_id),
                _ => None,
            }
        };
        if let (Some(p), true) = (mine, self.armed) {
            let _ = p.host.notify(
                method::TOOL_CANCEL,
                ToolCancelParams {
                    call_id: self.call_id.clone(),
                },
            );
        }
    }
}

/// Error results made by the daemon.
trait EnvelopeResult {
    fn error(envelope: &ToolErrorEnvelope) -> Self;
}

impl EnvelopeResult for ToolCallResult {
    fn error(envelope: &ToolErrorEnvelope) -> Self {
        ToolInvokeResult {
            is_error: true,
            content: serde_json::to_value(envelope).unwrap_or(Value::Null),
            images: Vec::new(),
        }
    }
}

fn caller(ext: &Extensions) -> Result<Peer, ErrorObjectOwned> {
    ext.get::<Peer>()
        .cloned()
        .ok_or_else(|| rpc_error(code::INTERNAL_ERROR, "no connection context"))
}

/// Register `host.list`, `tool.call` and `tool.call.cancel` on `m`.
pub fn register(m: &mut RpcModule<Arc<State>>) -> Result<(), RegisterMethodError> {
    m.register_method(method::HOST_LIST, |params, st: &Arc<State>, _| {
        parse_params::<NoParams>(&params)?;
        let list: Vec<HostListEntry> = st.hosts.all().iter().map(list_entry).collect();
        Ok::<_, ErrorObjectOwned>(list)
    })?;

    m.register_async_method(
        method::TOOL_CALL,
        |params, st: Arc<Arc<State>>, ext: Extensions| async move {
            let p: ToolCallParams = parse_params(&params)?;
            let caller = caller(&ext)?;
            st.direct
                .call(&st.hosts, p, &caller)
                .await
                .map_err(ErrorObjectOwned::from)
        },
    )?;

    m.register_method(method::TOOL_CALL_CANCEL, |params, st: &Arc<State>, _| {
        let p: ToolCallCancelParams = parse_params(&params)?;
        Ok::<_, ErrorObjectOwned>(ToolCallCancelResult {
            cancelled: st.direct.cancel(&p.call_id),
        })
    })?;
    Ok(())
}
