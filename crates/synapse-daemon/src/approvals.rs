//! Permission modes and approvals (design §11): which tool calls of a turn
//! run at once, which wait for the artist, and `turn.approve`.
//!
//! - `read_only`: only `read_only` tools are offered to the model; a call to
//!   any other host tool gets a `NotPermitted` error result (the host is
//!   never asked).
//! - `ask`: read-only tools run; every other call waits for approval.
//! - `auto`: non-destructive tools run; destructive ones wait.
//! - The config's `allow_tools` and the session's `allow_session` answers
//!   (persisted in the store) skip the wait.
//!
//! A wait ([`Gate::permit`], awaited by the agent loop just before the call
//! would run, outside its timeout): the call is registered as pending, the
//! turn emits `approval_request` (never dropped) and `status:
//! awaiting_approval`, then waits for the first `turn.approve` answer, the
//! approval timeout, or a cancel (which drops the wait). After an answer or
//! the timeout it emits `status: running`. `deny` → `DeniedByUser` with the
//! reason; timeout → `ApprovalTimeout`. `awaiting_approval` is a sub-state of
//! `running`: the store keeps `running` (so a daemon restart finds the turn
//! `interrupted` like any running turn) and no commit sits on the
//! approve → invoke path.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use synapse_agent::{CancellationToken, ToolCall, ToolOutcome};
use synapse_protocol::{
    ApprovalDecision, PermissionMode, Timestamp, ToolErrorEnvelope, ToolSpec, TurnApproveParams,
    TurnEventKind, TurnStatus,
};
use tokio::sync::oneshot;

use crate::hosts::Host;
use crate::state::State;
use crate::turns::LiveTurn;

/// An answer delivered to a waiting call.
#[derive(Debug)]
struct Answer {
    decision: ApprovalDecision,
    reason: Option<String>,
}

#[derive(Debug, Default)]
struct Pending {
    waiting: HashMap<String, oneshot::Sender<Answer>>,
    /// Calls that asked for approval in this turn (answered or not).
    requested: HashSet<String>,
}

/// A turn's approval state (held by its `LiveTurn`).
#[derive(Debug, Default)]
pub struct TurnApprovals {
    pending: Mutex<Pending>,
    awaiting: AtomicBool,
}

impl TurnApprovals {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True while a call waits for an answer.
    pub fn awaiting(&self) -> bool {
        self.awaiting.load(Ordering::Acquire)
    }

    /// Deliver an answer: `Ok(true)` when the call was waiting (first answer
    /// wins), `Ok(false)` when it asked for approval but is no longer
    /// waiting (answered, timed out), `Err` when it never asked.
    fn answer(&self, call_id: &str, answer: Answer) -> Result<bool, ApproveError> {
        let mut p = self.lock();
        match p.waiting.remove(call_id) {
            Some(tx) => Ok(tx.send(answer).is_ok()),
            None if p.requested.contains(call_id) => Ok(false),
            None => Err(ApproveError::NoSuchCall),
        }
    }
}

/// Why `turn.approve` was refused (nothing changed).
#[derive(Debug, PartialEq, Eq)]
pub enum ApproveError {
    /// No such turn.
    UnknownTurn,
    /// The turn is final.
    Finished(TurnStatus),
    /// The turn never asked approval for this call.
    NoSuchCall,
}

/// `turn.approve`.
pub async fn approve(state: &Arc<State>, p: TurnApproveParams) -> Result<bool, ApproveError> {
    let Some(turn) = state.turns.live(&p.turn_id) else {
        return match state.turns.get(&p.turn_id).await {
            Ok(info) => Err(ApproveError::Finished(info.status)),
            Err(_) => Err(ApproveError::UnknownTurn),
        };
    };
    let accepted = turn.approvals.answer(
        &p.call_id,
        Answer {
            decision: p.decision,
            reason: p.reason.filter(|r| !r.trim().is_empty()),
        },
    )?;
    tracing::info!(turn_id = %p.turn_id, call_id = %p.call_id, decision = ?p.decision, accepted, "turn.approve");
    Ok(accepted)
}

/// The permission gate of one running turn.
pub struct Gate {
    state: Arc<State>,
    turn: Arc<LiveTurn>,
    mode: PermissionMode,
    host: Option<Host>,
    session_allowed: Mutex<HashSet<String>>,
}

impl Gate {
    /// The gate of `turn`, given the session's `allow_session` answers
    /// (read by the caller with the rest of the turn's start-up reads).
    pub fn new(
        state: &Arc<State>,
        turn: &Arc<LiveTurn>,
        host: Option<Host>,
        allowed: HashSet<String>,
    ) -> Self {
        Self {
            state: state.clone(),
            turn: turn.clone(),
            mode: turn.mode,
            host,
            session_allowed: Mutex::new(allowed),
        }
    }

    /// The tools offered to the model: all of them, or in `read_only` mode
    /// only the read-only ones (same order).
    pub fn offered(&self, tools: &[ToolSpec]) -> Vec<ToolSpec> {
        match self.mode {
            PermissionMode::ReadOnly => tools.iter().filter(|t| t.read_only).cloned().collect(),
            _ => tools.to_vec(),
        }
    }

    /// May `call` (of a tool in `tools`) run? See the module docs.
    pub async fn permit(
        &self,
        tools: &[ToolSpec],
        call: &ToolCall,
        _cancel: CancellationToken,
    ) -> Result<(), ToolOutcome> {
        let Some(spec) = tools.iter().find(|t| t.name == call.name) else {
            return Ok(()); // not a host tool: the host path reports it
        };
        let connected = self.host.as_ref().is_some_and(|h| !h.peer.is_closed());
        if spec.read_only || !connected {
            // No host: the call gets `HostUnavailable`; nothing to approve.
            return Ok(());
        }
        match self.mode {
            PermissionMode::ReadOnly => return Err(not_permitted_in_read_only(&call.name)),
            PermissionMode::Auto if !spec.destructive => return Ok(()),
            _ => {}
        }
        if self.state.budget.policy().allow_tools.contains(&call.name)
            || self.allowed_for_session(&call.name)
        {
            return Ok(());
        }
        self.wait(call, spec.destructive).await
    }

    fn allowed_for_session(&self, name: &str) -> bool {
        self.session_allowed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(name)
    }

    async fn wait(&self, call: &ToolCall, destructive: bool) -> Result<(), ToolOutcome> {
        let approvals = &self.turn.approvals;
        let (tx, rx) = oneshot::channel();
        {
            let mut p = approvals.lock();
            p.requested.insert(call.call_id.clone());
            p.waiting.insert(call.call_id.clone(), tx);
        }
        approvals.awaiting.store(true, Ordering::Release);
        // Dropped when the wait ends for any reason (also a cancel, which
        // drops this future): nothing stays pending.
        let _guard = WaitGuard {
            approvals,
            call_id: &call.call_id,
        };
        let global = &self.state.turns.global;
        self.turn.hub.emit(
            TurnEventKind::ApprovalRequest {
                call_id: call.call_id.clone(),
                name: call.name.clone(),
                input: call.input.clone(),
                destructive,
            },
            global,
        );
        self.turn.hub.emit(
            TurnEventKind::Status {
                status: TurnStatus::AwaitingApproval,
            },
            global,
        );
        let timeout = self.state.budget.policy().approval_timeout;
        let answer = tokio::time::timeout(timeout, rx).await;
        approvals.awaiting.store(false, Ordering::Release);
        self.turn.hub.emit(
            TurnEventKind::Status {
                status: TurnStatus::Running,
            },
            global,
        );
        match answer {
            Ok(Ok(Answer {
                decision: ApprovalDecision::Allow,
                ..
            })) => Ok(()),
            Ok(Ok(Answer {
                decision: ApprovalDecision::AllowSession,
                ..
            })) => {
                self.remember(&call.name).await;
                Ok(())
            }
            Ok(Ok(Answer {
                decision: ApprovalDecision::Deny,
                reason,
            })) => Err(refused(
                &call.name,
                "DeniedByUser",
                format!(
                    "the artist declined this call ({}); it was not run. Do not retry it as is: \
                     adapt, or ask the artist",
                    reason.as_deref().unwrap_or("no reason given")
                ),
            )),
            Ok(Err(_)) => Err(refused(
                &call.name,
                "ApprovalTimeout",
                "the approval wait ended without an answer; the call was not run".to_owned(),
            )),
            Err(_) => Err(refused(
                &call.name,
                "ApprovalTimeout",
                format!(
                    "no answer from the artist within {} s; the call was not run",
                    timeout.as_secs_f64()
                ),
            )),
        }
    }

    /// `allow_session`: persist, then skip the wait for this tool in this
    /// session from now on.
    async fn remember(&self, name: &str) {
        let store = self.state.turns.store().clone();
        let sid = self.turn.session_id.clone();
        let tool = name.to_owned();
        let saved = tokio::task::spawn_blocking(move || {
            store.allow_tool_for_session(&sid, &tool, Timestamp::now())
        })
        .await;
        if !matches!(saved, Ok(Ok(()))) {
            tracing::warn!(turn_id = %self.turn.turn_id, tool = name,
                "cannot persist an allow_session answer; it holds for this turn only");
        }
        self.session_allowed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned());
    }
}

struct WaitGuard<'a> {
    approvals: &'a TurnApprovals,
    call_id: &'a str,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.approvals.lock().waiting.remove(self.call_id);
        self.approvals.awaiting.store(false, Ordering::Release);
    }
}

/// `NotPermitted`: a tool that changes the scene, in a `read_only` turn.
pub(crate) fn not_permitted_in_read_only(tool: &str) -> ToolOutcome {
    refused(
        tool,
        "NotPermitted",
        format!(
            "the turn runs in read_only mode and {tool} changes the scene; it was not run. \
             Use read-only tools, or tell the artist what you would change"
        ),
    )
}

fn refused(tool: &str, error_type: &str, message: String) -> ToolOutcome {
    ToolOutcome::error(&ToolErrorEnvelope::synthetic(tool, error_type, message))
}

/// The mode of a new turn: the one asked for, else the session's last
/// mode, else the config's `default_mode`. Runs on a blocking thread (the
/// submit path folds this read into its one blocking call).
pub(crate) fn submit_mode_blocking(
    store: &synapse_store::Store,
    asked: Option<PermissionMode>,
    session_id: Option<&str>,
    default: PermissionMode,
) -> PermissionMode {
    if let Some(m) = asked {
        return m;
    }
    let Some(sid) = session_id else {
        return default;
    };
    match store.session_last_mode(sid) {
        Ok(Some(m)) => PermissionMode::parse(&m).unwrap_or(default),
        Ok(None) => default,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the session's last mode; using default_mode");
            default
        }
    }
}
