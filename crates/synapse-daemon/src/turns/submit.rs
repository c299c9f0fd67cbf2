//! `turn.submit`: validation, the submit commit, and starting an idle session's turn at once (ADR 0028).

use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::{Arc, Mutex};

use serde_json::json;

use synapse_protocol::{Timestamp, TurnEventKind, TurnStatus, TurnSubmitParams};
use synapse_rpc::Peer;
use synapse_store::NewTurn;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::events::Hub;
use crate::state::State;

use super::startup::read_start;
use super::{blocking, prompt_message, LiveTurn, Ready, Turns, TurnsError, QUEUED, RUNNING};

impl Turns {
    /// Validate, persist and register a turn. The caller must call
    /// [`Turns::start`] once the submit response is queued.
    pub async fn submit(
        self: &Arc<Self>,
        state: &Arc<State>,
        params: TurnSubmitParams,
        caller: &Peer,
    ) -> Result<Arc<LiveTurn>, TurnsError> {
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
        // The session's worker and a slot are taken now when the session is
        // idle: then the turn is committed `running` with its prompt in the
        // submit's own commit, and its start-up reads ride in the same
        // blocking call (one fsync and one hop before the first request).
        let permit = self.reserve(&session_id);
        let fast = permit.is_some();
        let store = self.store.clone();
        let sid = session_id.clone();
        let asked_mode = params.mode;
        let continued = params.session_id.clone();
        let default_mode = state.budget.policy().default_mode;
        let prompt = params.prompt.clone();
        let host_id = host.as_ref().map(|h| h.host_id.clone());
        let host_specs = host.as_ref().map(|h| h.tools().to_vec());
        let tid = turn_id.clone();
        let turn_params = json!({
            "system": params.system, "model": params.model,
            "max_tokens": params.max_tokens, "max_iterations": params.max_iterations,
            "max_turn_cost_usd": params.max_turn_cost_usd,
        });
        let gate = state.clone();
        let cache = self.history.clone();
        // One commit: a new session and its first turn go in together; a
        // continued session must exist (checked inside the transaction).
        // No credential: refused before anything is stored (same hop).
        let submitted = blocking(move || {
            let credential =
                crate::auth_gate::check_submit(&gate.config, &store, continued.as_deref())?;
            let mode = crate::approvals::submit_mode_blocking(
                &store,
                asked_mode,
                continued.as_deref(),
                default_mode,
            );
            let mut turn_params = turn_params;
            turn_params["mode"] = json!(mode);
            let new_turn = NewTurn {
                turn_id: tid.clone(),
                session_id: sid.clone(),
                prompt: prompt.clone(),
                host_id,
                created_at: now,
                params: turn_params,
            };
            let inserted = if fast {
                store.insert_started_turn(&new_turn, new_session, now, &prompt_message(&prompt))
            } else if new_session {
                store.insert_turn_in_new_session(&new_turn)
            } else {
                store.insert_turn(&new_turn)
            };
            match inserted {
                Err(e) if e.is_not_found() => {
                    return Err(TurnsError::NotFound(format!("session {sid}")))
                }
                Err(e) if e.is_storage_fault() => return Err(TurnsError::Storage(e.to_string())),
                other => other?,
            }
            // Read after the commit (a new session exists only now), without
            // the prompt just committed: the agent loop adds it.
            let prepared = fast.then(|| {
                read_start(&store, &cache, &sid, host_specs, &tid, true).map(|mut p| {
                    p.4 = Some(credential);
                    p
                })
            });
            Ok((mode, prepared))
        })
        .await
        .map_err(|e| match e {
            TurnsError::Storage(msg) => {
                let error = state.storage.failed("the new turn", &msg);
                TurnsError::Storage(error.message)
            }
            other => other,
        });
        let (mode, prepared) = match submitted {
            Ok(x) => x,
            Err(e) => {
                if fast {
                    drop(permit);
                    self.release(state, &session_id);
                }
                return Err(e);
            }
        };
        let ready = match (permit, prepared) {
            (Some(permit), Some(prepared)) => Some(Box::new(Ready {
                started_at: now,
                permit,
                prepared,
            })),
            _ => None,
        };
        state.storage.succeeded();
        let (result, _) = watch::channel(None);
        let turn = Arc::new(LiveTurn {
            turn_id: turn_id.clone(),
            session_id,
            prompt: params.prompt.clone(),
            params,
            host,
            mode,
            approvals: Default::default(),
            created_at: now,
            phase: AtomicU8::new(if ready.is_some() { RUNNING } else { QUEUED }),
            cancel: CancellationToken::new(),
            // A turn started here runs before its submit answer is written:
            // its events are held until `start` (after that answer).
            hub: if ready.is_some() {
                Hub::held(&turn_id)
            } else {
                Hub::new(&turn_id)
            },
            result,
            ready: Mutex::new(ready),
            answered: AtomicBool::new(false),
            answered_signal: tokio::sync::Notify::new(),
        });
        turn.hub.subscribe(caller);
        let spawn_worker = {
            let mut inner = self.lock();
            inner.live.insert(turn_id, turn.clone());
            // A queued turn takes its place in its session's queue now, in
            // the order the submits were committed (not the order their
            // responses happen to be written); its worker waits for
            // `start` before running it.
            if fast {
                false
            } else {
                let entry = inner.sessions.entry(turn.session_id.clone()).or_default();
                entry.0.push_back(turn.clone());
                !std::mem::replace(&mut entry.1, true)
            }
        };
        if spawn_worker {
            let this = self.clone();
            let state = state.clone();
            let sid = turn.session_id.clone();
            tokio::spawn(async move { this.session_worker(state, sid, None).await });
        }
        let ready = turn.ready.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(ready) = ready {
            // Committed `running`: the request goes out now, alongside the
            // submit answer; `running` is the first event (held, see above).
            turn.hub.emit(
                TurnEventKind::Status {
                    status: TurnStatus::Running,
                },
                &self.global,
            );
            let this = self.clone();
            let state = state.clone();
            let sid = turn.session_id.clone();
            let t = turn.clone();
            tokio::spawn(async move { this.session_worker(state, sid, Some((t, ready))).await });
        }
        state.activity.turn_started();
        Ok(turn)
    }
}
