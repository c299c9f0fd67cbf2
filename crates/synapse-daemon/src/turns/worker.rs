//! Session workers: a slot per session, its queued turns run in order, and the agent run of each.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use synapse_agent::TurnSpec;
use synapse_protocol::{ErrorKind, Timestamp, TurnStatus};
use tokio::sync::watch;

use crate::state::State;

use super::observer::{Observer, Pending};
use super::startup::read_start;
use super::tool_host::DaemonToolHost;
use super::{
    blocking, committed, failed_result, Commit, LiveTurn, Prepared, Ready, Turns, TurnsError,
    QUEUED, RUNNING,
};

impl Turns {
    /// Let `turn` run (after its submit response was queued): a turn
    /// committed `running` at submit starts now; a queued one when its
    /// session's worker reaches it.
    pub fn start(self: &Arc<Self>, _state: &Arc<State>, turn: Arc<LiveTurn>) {
        // A turn started at submit: its held events go out now.
        turn.hub.release(&self.global);
        turn.answered.store(true, Ordering::Release);
        turn.answered_signal.notify_one();
    }

    /// Take the idle `session_id`'s worker and a slot, when both are free.
    pub(super) fn reserve(&self, session_id: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let mut inner = self.lock();
        if inner.closing || inner.sessions.contains_key(session_id) {
            return None;
        }
        let permit = self.slots.clone().try_acquire_owned().ok()?;
        inner
            .sessions
            .insert(session_id.to_owned(), (VecDeque::new(), true));
        Some(permit)
    }

    /// Give back a [`Turns::reserve`]d worker whose turn was not submitted:
    /// turns queued behind it meanwhile get a worker.
    pub(super) fn release(self: &Arc<Self>, state: &Arc<State>, session_id: &str) {
        let queued = {
            let mut inner = self.lock();
            match inner.sessions.get(session_id) {
                Some((q, _)) if q.is_empty() => {
                    inner.sessions.remove(session_id);
                    false
                }
                Some(_) => true,
                None => false,
            }
        };
        if queued {
            let this = self.clone();
            let state = state.clone();
            let sid = session_id.to_owned();
            tokio::spawn(async move { this.session_worker(state, sid, None).await });
        }
    }

    pub(super) async fn session_worker(
        self: Arc<Self>,
        state: Arc<State>,
        session_id: String,
        first: Option<(Arc<LiveTurn>, Box<Ready>)>,
    ) {
        if let Some((turn, ready)) = first {
            let Ready {
                started_at,
                permit,
                prepared,
                commit,
            } = *ready;
            let released = self
                .run_prepared(&state, turn, started_at, prepared, Some(commit))
                .await;
            drop(permit);
            if released {
                return;
            }
        }
        loop {
            let next = {
                let mut inner = self.lock();
                let Some(entry) = inner.sessions.get_mut(&session_id) else {
                    return;
                };
                match entry.0.pop_front() {
                    Some(t) => t,
                    None => {
                        inner.sessions.remove(&session_id);
                        return;
                    }
                }
            };
            // Its submit response first (`start` follows it at once); a
            // cancel ends a queued turn without its worker.
            while !next.answered.load(Ordering::Acquire) {
                tokio::select! {
                    () = next.answered_signal.notified() => {}
                    () = next.cancel.cancelled() => break,
                }
            }
            let permit = tokio::select! {
                p = self.slots.clone().acquire_owned() => p.ok(),
                () = next.cancel.cancelled() => None,
            };
            let released = self.run(&state, next, permit.is_some()).await;
            drop(permit);
            if released {
                return;
            }
        }
    }

    pub(super) async fn run(
        self: &Arc<Self>,
        state: &Arc<State>,
        turn: Arc<LiveTurn>,
        may_run: bool,
    ) -> bool {
        let started_at = Timestamp::now();
        // The phase CAS decides who finishes the turn: `cancel` (QUEUED →
        // FINAL) or this worker (QUEUED → RUNNING), never both.
        if turn
            .phase
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        if !may_run || turn.cancel.is_cancelled() {
            self.finish_unstarted(state, &turn, TurnStatus::Cancelled)
                .await;
            return false;
        }
        // The turn becomes `running` in the store together with its prompt
        // (one commit, when the agent hands the prompt to the observer), and
        // the `running` event follows that commit.
        let store = self.store.clone();
        let sid = turn.session_id.clone();
        let host_specs = turn.host.as_ref().map(|h| h.tools().to_vec());
        let tid = turn.turn_id.clone();
        let cache = self.history.clone();
        let gate = state.clone();
        // The credential is resolved once, at the turn's start (§15); when
        // none is found the agent's own check ends the turn `authentication`.
        let prepared = blocking(move || {
            Ok(
                read_start(&store, &cache, &sid, host_specs, &tid, false, true).map(|mut p| {
                    p.4 = crate::auth_gate::resolve(&gate.config).ok();
                    p
                }),
            )
        })
        .await;
        let prepared = prepared.and_then(|p| p);
        self.run_prepared(state, turn, started_at, prepared, None)
            .await
    }

    /// Run a turn whose start-up reads are made; `commit`: the turn is
    /// committed `running` with its prompt at submit, by that commit (which
    /// may still run, or fail: ADR 0035).
    pub(super) async fn run_prepared(
        self: &Arc<Self>,
        state: &Arc<State>,
        turn: Arc<LiveTurn>,
        started_at: Timestamp,
        prepared: Result<Prepared, TurnsError>,
        commit: Option<watch::Receiver<Commit>>,
    ) -> bool {
        tracing::trace!(target: "synapse::hot", "worker: running the turn");
        let prompt_committed = commit.is_some();
        let (history, summary, tools, allowed, credential) = match prepared {
            Ok(h) => h,
            Err(e) => {
                if let Some(c) = &commit {
                    if !committed(c).await {
                        self.discard(&turn, Vec::new()).await;
                        return false;
                    }
                }
                let r = failed_result(
                    &turn,
                    started_at,
                    ErrorKind::Internal,
                    format!("cannot load the session: {e}"),
                );
                return self
                    .finish_spending(state, &turn, r, Vec::new(), true)
                    .await;
            }
        };
        let settings = self.agent.settings();
        let mut stored_idx = history.stored_idx;
        stored_idx.push(history.next_idx);
        let spec = TurnSpec {
            turn_id: turn.turn_id.clone(),
            session_id: turn.session_id.clone(),
            history_bytes: history.bytes,
            history: Vec::new(),
            stored_history: history.messages,
            stored_idx,
            summary,
            prompt: turn.prompt.clone(),
            system: turn.params.system.clone(),
            model: turn
                .params
                .model
                .clone()
                .unwrap_or_else(|| settings.model.clone()),
            max_tokens: turn.params.max_tokens.unwrap_or(settings.max_tokens),
            max_iterations: turn
                .params
                .max_iterations
                .unwrap_or(settings.max_iterations),
            credential,
        };
        let meter = state.budget.meter(
            &turn.turn_id,
            &turn.session_id,
            &spec.model,
            turn.params.max_turn_cost_usd,
        );
        let host = DaemonToolHost {
            gate: crate::approvals::Gate::new(
                state,
                &turn,
                turn.host.clone(),
                allowed.into_iter().collect(),
            ),
            host: turn.host.clone(),
            tools,
        };
        let observer = Observer {
            turns: self,
            state,
            turn: &turn,
            started_at,
            started: AtomicBool::new(false),
            prompt_committed,
            commit: commit.clone(),
            pending: Mutex::new(Pending::default()),
            meter,
        };
        let mut result = self
            .agent
            .run_turn(spec, &host, &observer, turn.cancel.clone())
            .await;
        tracing::trace!(target: "synapse::hot", status = %result.status, "worker: the agent loop returned");
        result.usage.cost_usd = observer.meter.cost_usd();
        // Usage, tool calls and spend not yet committed with a message: the
        // totals are part of the result (`finish_turn` commits them whole);
        // spend rows left over (an attempt that produced no message, e.g.
        // the one a cancel cut) go in the final status's commit (ADR 0031).
        let leftover = std::mem::take(&mut observer.pending().spends);
        // Nothing of a turn is written before its submit commit; a turn
        // whose commit failed never existed for any client.
        if let Some(c) = &commit {
            if !committed(c).await {
                self.discard(&turn, leftover).await;
                return false;
            }
        }
        // One `started_at` everywhere: the one stored with the prompt (which
        // `finish_turn` keeps), not the agent's slightly later clock.
        result.started_at = started_at;
        self.finish_spending(state, &turn, result, leftover, true)
            .await
    }
}
