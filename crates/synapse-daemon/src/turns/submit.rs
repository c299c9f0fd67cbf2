//! `turn.submit`: validation, the submit commit, and starting an idle session's turn at once (ADR 0028).

use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::Arc;

use serde_json::json;

use synapse_protocol::{Timestamp, TurnEventKind, TurnStatus, TurnSubmitParams};
use synapse_rpc::Peer;
use synapse_store::NewTurn;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::events::Hub;
use crate::state::State;

use super::startup::{read_start, save_tool_specs};
use super::{
    blocking, prompt_message, Commit, LiveTurn, Ready, Turns, TurnsError, QUEUED, RUNNING,
};

impl Turns {
    /// Validate, persist and register a turn. The caller must call
    /// [`Turns::start`] once the submit response is queued, or at once when
    /// no response will be written (its submitter is gone).
    ///
    /// Not cancel-safe: dropped once its commit may have started, it would
    /// leave a stored turn that nothing registers or runs. Run it to its end
    /// (`turn.submit` runs it in a task of its own).
    pub async fn submit(
        self: &Arc<Self>,
        state: &Arc<State>,
        params: TurnSubmitParams,
        caller: &Peer,
    ) -> Result<Arc<LiveTurn>, TurnsError> {
        tracing::trace!(target: "synapse::hot", "submit: validating");
        if params.prompt.trim().is_empty() {
            return Err(TurnsError::InvalidParams(
                "prompt must contain some text (the Messages API refuses blank text)".into(),
            ));
        }
        if let Some(model) = &params.model {
            synapse_agent::anthropic::models::check_model_name(model)
                .map_err(|e| TurnsError::InvalidParams(format!("model: {e}")))?;
        }
        if params.max_tokens == Some(0) {
            return Err(TurnsError::InvalidParams(
                "max_tokens must be at least 1".into(),
            ));
        }
        if params.max_iterations == Some(0) {
            return Err(TurnsError::InvalidParams(
                "max_iterations must be at least 1".into(),
            ));
        }
        if let Some(c) = params.max_turn_cost_usd {
            if !(c.is_finite() && c >= 0.0) {
                return Err(TurnsError::InvalidParams(
                    "max_turn_cost_usd must be a finite number of USD ≥ 0".into(),
                ));
            }
        }
        if self.lock().closing {
            return Err(TurnsError::Internal("the daemon is shutting down".into()));
        }
        let host = match &params.host_id {
            Some(id) => Some(
                state
                    .hosts
                    .get(id)
                    .ok_or_else(|| TurnsError::NotFound(format!("host {id}")))?,
            ),
            None => match state.hosts.by_connection(caller.id()) {
                Some(h) => Some(h),
                None => {
                    let all = state.hosts.all();
                    match all.len() {
                        0 => None,
                        1 => all.into_iter().next(),
                        n => {
                            return Err(TurnsError::NoHost(format!(
                                "{n} hosts are registered; name one with host_id"
                            )))
                        }
                    }
                }
            },
        };
        let now = Timestamp::now();
        let turn_id = format!("turn_{}", uuid::Uuid::now_v7().simple());
        let (session_id, new_session) = match &params.session_id {
            Some(id) => (id.clone(), false),
            None => (format!("sess_{}", uuid::Uuid::now_v7().simple()), true),
        };
        let turn_params = json!({
            "system": params.system, "model": params.model,
            "max_tokens": params.max_tokens, "max_iterations": params.max_iterations,
            "max_turn_cost_usd": params.max_turn_cost_usd,
        });
        let sub = Submission {
            turn_id,
            session_id,
            new_session,
            now,
            host,
            turn_params,
        };
        // The session's worker and a slot are taken now when the session is
        // idle: then the turn starts at submit (ADR 0028), its request going
        // out while its commit runs (ADR 0035).
        match self.reserve(&sub.session_id) {
            Some(permit) => {
                self.submit_started(state, params, caller, sub, permit)
                    .await
            }
            None => self.submit_queued(state, params, caller, sub).await,
        }
    }

    /// A turn whose session is busy (or no slot is free): committed
    /// `queued`, and put on its session's queue.
    async fn submit_queued(
        self: &Arc<Self>,
        state: &Arc<State>,
        params: TurnSubmitParams,
        caller: &Peer,
        sub: Submission,
    ) -> Result<Arc<LiveTurn>, TurnsError> {
        let store = self.store.clone();
        let gate = state.clone();
        let continued = params.session_id.clone();
        let asked_mode = params.mode;
        let default_mode = state.budget.policy().default_mode;
        let new_turn = sub.new_turn(&params);
        let new_session = sub.new_session;
        let turn_params = sub.turn_params.clone();
        // One commit: a new session and its first turn go in together; a
        // continued session must exist (checked inside the transaction).
        // No credential: refused before anything is stored (same hop).
        let mode = blocking(move || {
            crate::auth_gate::check_submit(&gate.config, &store, continued.as_deref())?;
            let mode = crate::approvals::submit_mode_blocking(
                &store,
                asked_mode,
                continued.as_deref(),
                default_mode,
            );
            let mut new_turn = new_turn;
            new_turn.params = with_mode(turn_params, mode);
            let inserted = if new_session {
                store.insert_turn_in_new_session(&new_turn)
            } else {
                store.insert_turn(&new_turn)
            };
            insert_outcome(inserted, &new_turn.session_id)?;
            Ok(mode)
        })
        .await
        .map_err(|e| storage_failed(state, e))?;
        state.storage.succeeded();
        let hub = Hub::new(&sub.turn_id);
        let turn = sub.live_turn(params, mode, QUEUED, hub);
        turn.hub.subscribe(caller);
        let spawn_worker = {
            let mut inner = self.lock();
            inner.live.insert(turn.turn_id.clone(), turn.clone());
            // A queued turn takes its place in its session's queue now, in
            // the order the submits were committed (not the order their
            // responses happen to be written); its worker waits for
            // `start` before running it.
            let entry = inner.sessions.entry(turn.session_id.clone()).or_default();
            entry.0.push_back(turn.clone());
            !std::mem::replace(&mut entry.1, true)
        };
        if spawn_worker {
            let this = self.clone();
            let state = state.clone();
            let sid = turn.session_id.clone();
            tokio::spawn(async move { this.session_worker(state, sid, None).await });
        }
        state.activity.turn_started();
        Ok(turn)
    }

    /// A turn started at submit (its session idle, a slot free): one
    /// blocking call makes the start-up reads, hands them to the turn's
    /// worker (whose request goes out at once) and then commits the turn
    /// `running` with its prompt. A new session whose credential is known
    /// without I/O needs no reads: its worker starts before that blocking
    /// call, from this task (ADR 0038). The answer, every event and every
    /// write of the turn wait for the commit; when it fails the request is
    /// cut and the turn dropped: it never existed for any client (ADR 0035).
    async fn submit_started(
        self: &Arc<Self>,
        state: &Arc<State>,
        params: TurnSubmitParams,
        caller: &Peer,
        sub: Submission,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<Arc<LiveTurn>, TurnsError> {
        let store = self.store.clone();
        let gate = state.clone();
        let cache = self.history.clone();
        let continued = params.session_id.clone();
        let asked_mode = params.mode;
        let default_mode = state.budget.policy().default_mode;
        let mut new_turn = sub.new_turn(&params);
        let new_session = sub.new_session;
        let turn_params = sub.turn_params.clone();
        let host_specs = sub.host.as_ref().map(|h| h.tools().to_vec());
        let now = sub.now;
        // A new session has no history, no allowed tools and no stored
        // mode: with a credential in memory, nothing needs reading.
        let read_now = match new_session {
            true => crate::auth_gate::known_now(&state.config).map(|credential| {
                let mode = asked_mode.unwrap_or(default_mode);
                let tools = host_specs.clone().unwrap_or_default();
                (
                    mode,
                    (
                        Default::default(),
                        None,
                        tools,
                        Vec::new(),
                        Some(credential),
                    ),
                )
            }),
            false => None,
        };
        if let Some((mode, _)) = &read_now {
            new_turn.params = with_mode(turn_params.clone(), *mode);
        }
        let reads_made = read_now.is_some();
        let (reads_tx, reads_rx) = oneshot::channel();
        let (commit_tx, commit_rx) = oneshot::channel();
        let commit = move || -> Result<(), TurnsError> {
            tracing::trace!(target: "synapse::hot", "submit: on the blocking thread");
            let sid = new_turn.session_id.clone();
            if !reads_made {
                let credential =
                    crate::auth_gate::check_submit(&gate.config, &store, continued.as_deref())?;
                // A continued session must exist before any request goes
                // out (the commit checks it again).
                if let Some(sid) = continued.as_deref() {
                    if !store.session_exists(sid)? {
                        return Err(TurnsError::NotFound(format!("session {sid}")));
                    }
                }
                let mode = crate::approvals::submit_mode_blocking(
                    &store,
                    asked_mode,
                    continued.as_deref(),
                    default_mode,
                );
                new_turn.params = with_mode(turn_params, mode);
                // The history up to the prompt (not stored yet); the host's
                // specs are saved after the commit (a new session's row).
                let mut prepared = read_start(
                    &store,
                    &cache,
                    &sid,
                    host_specs.clone(),
                    &new_turn.turn_id,
                    false,
                    false,
                )?;
                prepared.4 = Some(credential);
                tracing::trace!(target: "synapse::hot", "submit: reads made, committing");
                if reads_tx.send((mode, prepared)).is_err() {
                    return Ok(()); // the submit is gone: nothing is stored
                }
            }
            let inserted = store.insert_started_turn(
                &new_turn,
                new_session,
                now,
                &prompt_message(&new_turn.prompt),
            );
            let ok = inserted.is_ok();
            tracing::trace!(target: "synapse::hot", ok, "submit: commit ended");
            let _ = commit_tx.send(insert_outcome(inserted, &sid));
            if let (true, Some(specs)) = (ok, host_specs) {
                save_tool_specs(&store, &sid, &specs);
            }
            Ok(())
        };
        let (task, read) = match read_now {
            // The worker's task is spawned below, before this task waits
            // again: the blocking call only commits.
            Some(read) => (tokio::task::spawn_blocking(commit), read),
            None => {
                let task = tokio::task::spawn_blocking(commit);
                match reads_rx.await {
                    Ok(read) => (task, read),
                    Err(_) => {
                        // Refused or failed before the commit: nothing
                        // stored, no request sent.
                        let e = match task.await {
                            Ok(Err(e)) => e,
                            Ok(Ok(())) => TurnsError::Internal("the submit stopped".into()),
                            Err(e) => TurnsError::Internal(format!("store task failed: {e}")),
                        };
                        drop(permit);
                        self.release(state, &sub.session_id);
                        return Err(storage_failed(state, e));
                    }
                }
            }
        };
        drop(task); // the commit reports through `commit_rx`
        let (mode, prepared) = read;
        let turn_id = sub.turn_id.clone();
        // Its events are held until `start` (after the submit answer).
        let turn = sub.live_turn(params, mode, RUNNING, Hub::held(&turn_id));
        turn.hub.subscribe(caller);
        turn.hub.emit(
            TurnEventKind::Status {
                status: TurnStatus::Running,
            },
            &self.global,
        );
        let (commit_state, commit) = watch::channel(Commit::Pending);
        {
            let this = self.clone();
            let state = state.clone();
            let sid = turn.session_id.clone();
            let ready = Box::new(Ready {
                started_at: now,
                permit,
                prepared: Ok(prepared),
                commit,
            });
            let t = turn.clone();
            tokio::spawn(async move { this.session_worker(state, sid, Some((t, ready))).await });
        }
        tracing::trace!(target: "synapse::hot", "submit: worker spawned");
        let outcome = match commit_rx.await {
            Ok(r) => r,
            Err(_) => Err(TurnsError::Internal("the submit's commit stopped".into())),
        };
        match outcome {
            Ok(()) => {
                state.storage.succeeded();
                let closing = {
                    let mut inner = self.lock();
                    inner.live.insert(turn_id, turn.clone());
                    inner.closing
                };
                if closing {
                    turn.cancel.cancel();
                }
                state.activity.turn_started();
                let _ = commit_state.send(Commit::Done);
                tracing::trace!(target: "synapse::hot", "submit: answering");
                Ok(turn)
            }
            Err(e) => {
                // The request is cut and the turn dropped by its worker.
                let _ = commit_state.send(Commit::Failed);
                turn.cancel.cancel();
                self.history.forget(&turn.session_id);
                Err(storage_failed(state, e))
            }
        }
    }
}

/// What a submit decided before its commit.
struct Submission {
    turn_id: String,
    session_id: String,
    new_session: bool,
    now: Timestamp,
    host: Option<crate::hosts::Host>,
    turn_params: serde_json::Value,
}

impl Submission {
    fn new_turn(&self, params: &TurnSubmitParams) -> NewTurn {
        NewTurn {
            turn_id: self.turn_id.clone(),
            session_id: self.session_id.clone(),
            prompt: params.prompt.clone(),
            host_id: self.host.as_ref().map(|h| h.host_id.clone()),
            created_at: self.now,
            params: self.turn_params.clone(),
        }
    }

    fn live_turn(
        self,
        params: TurnSubmitParams,
        mode: synapse_protocol::PermissionMode,
        phase: u8,
        hub: Hub,
    ) -> Arc<LiveTurn> {
        let (result, _) = watch::channel(None);
        Arc::new(LiveTurn {
            turn_id: self.turn_id,
            session_id: self.session_id,
            prompt: params.prompt.clone(),
            params,
            host: self.host,
            mode,
            approvals: Default::default(),
            created_at: self.now,
            phase: AtomicU8::new(phase),
            cancel: CancellationToken::new(),
            hub,
            result,
            answered: AtomicBool::new(false),
            answered_signal: tokio::sync::Notify::new(),
        })
    }
}

fn with_mode(
    mut turn_params: serde_json::Value,
    mode: synapse_protocol::PermissionMode,
) -> serde_json::Value {
    turn_params["mode"] = json!(mode);
    turn_params
}

/// A submit's insert as the submit answers it.
fn insert_outcome(inserted: synapse_store::Result<()>, sid: &str) -> Result<(), TurnsError> {
    match inserted {
        Err(e) if e.is_not_found() => Err(TurnsError::NotFound(format!("session {sid}"))),
        Err(e) if e.is_storage_fault() => Err(TurnsError::Storage(e.to_string())),
        other => Ok(other?),
    }
}

/// A storage fault is reported (`daemon.status`) and answered as such.
fn storage_failed(state: &State, e: TurnsError) -> TurnsError {
    match e {
        TurnsError::Storage(msg) => {
            let error = state.storage.failed("the new turn", &msg);
            TurnsError::Storage(error.message)
        }
        other => other,
    }
}
