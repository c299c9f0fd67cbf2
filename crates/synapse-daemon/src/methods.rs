//! The client → daemon methods, registered on a jsonrpsee `RpcModule`.
//!
//! Each handler parses its params with [`parse_params`] (absent params are
//! `{}`; a mismatch is `-32602` with `data` saying what is wrong), finds the
//! calling connection's [`Peer`] in the call's extensions when it needs it,
//! and maps domain errors to the contract's codes.

use std::collections::HashSet;
use std::sync::Arc;

use jsonrpsee_core::server::{Extensions, RpcModule};
use jsonrpsee_core::RegisterMethodError;
use jsonrpsee_types::{ErrorObjectOwned, Params};

use jsonrpsee_core::server::ResponsePayload;
use synapse_protocol::{
    code, method, DaemonStatus, Empty, HostRegisterParams, HostRegisterResult, NoParams,
    SessionListParams, SessionRef, SessionSummary, TurnCancelResult, TurnRef, TurnResult,
    TurnSubmitParams, TurnSubmitResult, TurnSubscribeParams, TurnWaitParams, PAGE_MAX,
    SESSION_PAGE_DEFAULT,
};
use synapse_protocol::{TurnApproveParams, TurnApproveResult};
use synapse_rpc::dispatch::parse_params;
use synapse_rpc::Peer;

use crate::state::State;
use crate::turns::TurnsError;

/// A JSON-RPC error with a code from the contract.
pub fn rpc_error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned::<()>(code, message.into(), None)
}

/// `-32602` with `data`.
pub fn invalid_params(detail: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code::INVALID_PARAMS, "Invalid params", Some(detail.into()))
}

fn peer(ext: &Extensions) -> Result<Peer, ErrorObjectOwned> {
    ext.get::<Peer>()
        .cloned()
        .ok_or_else(|| rpc_error(code::INTERNAL_ERROR, "no connection context"))
}

/// Build the module with every method.
pub fn module(state: Arc<State>) -> Result<RpcModule<Arc<State>>, RegisterMethodError> {
    let mut m = RpcModule::new(state);

    m.register_method(
        method::DAEMON_STATUS,
        |params: Params<'_>, st: &Arc<State>, _| {
            parse_params::<NoParams>(&params)?;
            Ok::<DaemonStatus, ErrorObjectOwned>(st.status())
        },
    )?;

    m.register_method(
        method::DAEMON_SHUTDOWN,
        |params: Params<'_>, st: &Arc<State>, _| {
            parse_params::<NoParams>(&params)?;
            tracing::info!("daemon.shutdown requested");
            st.shutdown.cancel();
            Ok::<Empty, ErrorObjectOwned>(Empty {})
        },
    )?;

    m.register_method(method::HOST_REGISTER, |params: Params<'_>, st: &Arc<State>, ext: &Extensions| {
        let p: HostRegisterParams = parse_params(&params)?;
        validate_tools(&p)?;
        let peer = peer(ext)?;
        let host = st.hosts.register(&peer, p);
        tracing::info!(host_id = %host.host_id, name = %host.name, tools = host.tools().len(), "host registered");
        Ok::<HostRegisterResult, ErrorObjectOwned>(HostRegisterResult { host_id: host.host_id })
    })?;

    m.register_async_method(
        method::TURN_SUBMIT,
        |params, st: Arc<Arc<State>>, ext: Extensions| async move {
            let st: Arc<State> = (*st).clone();
            let p: TurnSubmitParams = match parse_params(&params) {
                Ok(p) => p,
                Err(e) => return ResponsePayload::error(e),
            };
            let peer = match peer(&ext) {
                Ok(p) => p,
                Err(e) => return ResponsePayload::error(e),
            };
            // The submit runs in its own task: a connection drops a request's
            // handler when its peer goes away, and a submit dropped mid-commit
            // would leave a stored turn that nothing runs. A turn whose
            // handler is gone gets no answer, so it starts at once
            // (`Unanswered`).
            let (tx, rx) = tokio::sync::oneshot::channel();
            let submitter = st.clone();
            tokio::spawn(async move {
                let submitted = submitter.turns.submit(&submitter, p, &peer).await;
                let _ = tx.send(submitted.map(|turn| Unanswered(Some((submitter, turn)))));
            });
            let submitted = rx
                .await
                .unwrap_or_else(|_| {
                    Err(crate::turns::TurnsError::Internal(
                        "the submit task stopped".into(),
                    ))
                })
                .and_then(|u| {
                    u.take().ok_or_else(|| {
                        crate::turns::TurnsError::Internal("the submitted turn was taken".into())
                    })
                });
            match submitted {
                Ok(turn) => {
                    let result = TurnSubmitResult {
                        turn_id: turn.turn_id.clone(),
                        session_id: turn.session_id.clone(),
                    };
                    let (payload, sent) = ResponsePayload::success(result).notify_on_completion();
                    tokio::spawn(async move {
                        // The turn's first event must follow this response.
                        let _ = sent.await;
                        st.turns.start(&st, turn);
                    });
                    payload
                }
                Err(e) => ResponsePayload::error(turns_error(e)),
            }
        },
    )?;

    m.register_async_method(
        method::TURN_GET,
        |params, st: Arc<Arc<State>>, _| async move {
            let p: TurnRef = parse_params(&params)?;
            st.turns.get(&p.turn_id).await.map_err(turns_error)
        },
    )?;

    m.register_async_method(
        method::TURN_WAIT,
        |params, st: Arc<Arc<State>>, ext: Extensions| async move {
            let p: TurnWaitParams = parse_params(&params)?;
            let timeout = match p.timeout_s {
                None => None,
                Some(s) => match synapse_protocol::seconds(s, synapse_protocol::MAX_TIMEOUT_S) {
                    Some(d) => Some(d),
                    None => {
                        return Err(invalid_params(format!(
                            "timeout_s must be a number of seconds from 0 to {} (got {s:?})",
                            synapse_protocol::MAX_TIMEOUT_S
                        )))
                    }
                },
            };
            let caller = peer(&ext)?;
            match st
                .turns
                .wait(&p.turn_id, timeout, &caller)
                .await
                .map_err(turns_error)?
            {
                Some(r) => Ok::<TurnResult, ErrorObjectOwned>(r),
                None => Err(rpc_error(
                    code::TURN_NOT_COMPLETE,
                    format!("Turn not complete: {}", p.turn_id),
                )),
            }
        },
    )?;

    m.register_async_method(
        method::TURN_CANCEL,
        |params, st: Arc<Arc<State>>, _| async move {
            let p: TurnRef = parse_params(&params)?;
            let cancelled = st
                .turns
                .cancel(&st, &p.turn_id)
                .await
                .map_err(turns_error)?;
            Ok::<TurnCancelResult, ErrorObjectOwned>(TurnCancelResult { cancelled })
        },
    )?;

    m.register_async_method(
        method::TURN_SUBSCRIBE,
        |params, st: Arc<Arc<State>>, ext: Extensions| async move {
            let p: TurnSubscribeParams = parse_params(&params)?;
            let caller = peer(&ext)?;
            st.turns
                .subscribe(p.turn_id.as_deref(), &caller)
                .await
                .map_err(turns_error)?;
            Ok::<Empty, ErrorObjectOwned>(Empty {})
        },
    )?;

    m.register_async_method(
        method::TURN_APPROVE,
        |params, st: Arc<Arc<State>>, _| async move {
            let p: TurnApproveParams = parse_params(&params)?;
            let (turn_id, call_id) = (p.turn_id.clone(), p.call_id.clone());
            match crate::approvals::approve(&st, p).await {
                Ok(accepted) => Ok(TurnApproveResult { accepted }),
                Err(e) => Err(approve_error(&turn_id, &call_id, e)),
            }
        },
    )?;

    m.register_async_method(
        method::SESSION_LIST,
        |params, st: Arc<Arc<State>>, _| async move {
            let p: SessionListParams = parse_params(&params)?;
            let limit = page_limit(p.limit, "limit")?.unwrap_or(SESSION_PAGE_DEFAULT);
            let before = match &p.before {
                None => None,
                Some(text) => match serde_json::from_value::<synapse_protocol::Timestamp>(
                    serde_json::Value::String(text.clone()),
                ) {
                    Ok(t) => Some(t.unix_ms()),
                    Err(_) => {
                        return Err(invalid_params(format!(
                            "before must be an RFC 3339 timestamp such as the updated_at of a \
                             listed session (got {text:?})"
                        )))
                    }
                },
            };
            let store = st.turns.store().clone();
            let list = tokio::task::spawn_blocking(move || store.list_sessions_page(limit, before))
                .await
                .map_err(|e| rpc_error(code::INTERNAL_ERROR, format!("Internal error: {e}")))?
                .map_err(|e| {
                    rpc_error(code::INTERNAL_ERROR, format!("Internal error: store: {e}"))
                })?;
            Ok::<Vec<SessionSummary>, ErrorObjectOwned>(list)
        },
    )?;

    m.register_async_method(
        method::SESSION_GET,
        |params, st: Arc<Arc<State>>, _| async move {
            let p: SessionRef = parse_params(&params)?;
            let limit = page_limit(p.limit, "limit")?;
            let after = match p.after {
                None => None,
                Some(a) => Some(u64::try_from(a).map_err(|_| {
                    invalid_params(format!(
                        "after must be a message index, 0 or more (got {a})"
                    ))
                })?),
            };
            let store = st.turns.store().clone();
            let id = p.session_id.clone();
            let detail = tokio::task::spawn_blocking(move || store.session_page(&id, after, limit))
                .await
                .map_err(|e| rpc_error(code::INTERNAL_ERROR, format!("Internal error: {e}")))?
                .map_err(|e| {
                    rpc_error(code::INTERNAL_ERROR, format!("Internal error: store: {e}"))
                })?;
            detail.ok_or_else(|| {
                rpc_error(
                    code::NOT_FOUND,
                    format!("Not found: session {}", p.session_id),
                )
            })
        },
    )?;

    crate::direct::register(&mut m)?;

    Ok(m)
}

/// A page size from a peer: 1 to [`PAGE_MAX`], else `-32602` saying so.
fn page_limit(limit: Option<i64>, name: &str) -> Result<Option<u32>, ErrorObjectOwned> {
    match limit {
        None => Ok(None),
        Some(n) if (1..=i64::from(PAGE_MAX)).contains(&n) => Ok(u32::try_from(n).ok()),
        Some(n) => Err(invalid_params(format!(
            "{name} must be from 1 to {PAGE_MAX} (got {n})"
        ))),
    }
}

fn turns_error(e: TurnsError) -> ErrorObjectOwned {
    match e {
        TurnsError::NotFound(what) => rpc_error(code::NOT_FOUND, format!("Not found: {what}")),
        TurnsError::NoHost(msg) => rpc_error(code::NO_HOST, format!("No host: {msg}")),
        TurnsError::InvalidParams(msg) => invalid_params(msg),
        TurnsError::Internal(msg) => {
            rpc_error(code::INTERNAL_ERROR, format!("Internal error: {msg}"))
        }
        TurnsError::Storage(msg) => ErrorObjectOwned::owned(
            code::INTERNAL_ERROR,
            "Storage error",
            Some(serde_json::json!({"kind": "storage", "message": msg})),
        ),
        TurnsError::NoCredential(msg) => ErrorObjectOwned::owned(
            code::NO_CREDENTIAL,
            "No API key",
            Some(serde_json::Value::String(msg)),
        ),
    }
}

fn approve_error(
    turn_id: &str,
    call_id: &str,
    e: crate::approvals::ApproveError,
) -> ErrorObjectOwned {
    use crate::approvals::ApproveError;
    let (message, reason) = match e {
        ApproveError::UnknownTurn => (
            format!("Not found: turn {turn_id}"),
            "unknown_turn".to_owned(),
        ),
        ApproveError::Finished(status) => (
            format!(
                "Not found: turn {turn_id} is already final ({status}); nothing waits for approval"
            ),
            "turn_final".to_owned(),
        ),
        ApproveError::NoSuchCall => (
            format!("Not found: call {call_id} of turn {turn_id} never asked for approval"),
            "unknown_call".to_owned(),
        ),
    };
    ErrorObjectOwned::owned(
        code::NOT_FOUND,
        message,
        Some(serde_json::json!({"turn_id": turn_id, "call_id": call_id, "reason": reason})),
    )
}

fn validate_tools(p: &HostRegisterParams) -> Result<(), ErrorObjectOwned> {
    let mut seen = HashSet::new();
    for (i, t) in p.tools.iter().enumerate() {
        let ok_name = !t.name.is_empty()
            && t.name.len() <= 64
            && t.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok_name {
            return Err(invalid_params(format!(
                "tools[{i}].name {:?} must match ^[a-zA-Z0-9_-]{{1,64}}$",
                t.name
            )));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(invalid_params(format!(
                "tools[{i}].name {:?} is registered twice",
                t.name
            )));
        }
        if !t.input_schema.is_object() {
            return Err(invalid_params(format!(
                "tools[{i}].input_schema must be a JSON object"
            )));
        }
        if let Some(s) = t.timeout_s {
            if !(s > 0.0 && synapse_protocol::seconds(s, synapse_protocol::MAX_TIMEOUT_S).is_some())
            {
                return Err(invalid_params(format!(
                    "tools[{i}].timeout_s must be more than 0 and at most {} seconds (got {s:?})",
                    synapse_protocol::MAX_TIMEOUT_S
                )));
            }
        }
    }
    Ok(())
}

/// A submitted turn on its way to the `turn.submit` handler. Dropped
/// unanswered (the handler went away with its peer), it starts at once:
/// no answer will precede its events.
struct Unanswered(Option<(Arc<State>, Arc<crate::turns::LiveTurn>)>);

impl Unanswered {
    /// The turn, now the handler's to answer and start.
    fn take(mut self) -> Option<Arc<crate::turns::LiveTurn>> {
        self.0.take().map(|(_, turn)| turn)
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some((st, turn)) = self.0.take() {
            st.turns.start(&st, turn);
        }
    }
}
