//! Turns: submission, scheduling, running, cancelling, waiting, shutdown.
//!
//! - A submitted turn is persisted `queued` and put on its session's FIFO
//!   queue at submit (in commit order); it runs only once the `turn.submit`
//!   response has been queued on the submitter's connection (so that
//!   response always precedes the turn's first event). When the session is
//!   idle and a slot is free, the turn is instead committed `running` with
//!   its prompt in the submit's commit and starts as soon as the response
//!   is queued (ADR 0028).
//! - Each session with queued turns has one worker task that runs them in
//!   order; workers of different sessions run concurrently, at most
//!   `concurrent_sessions` at a time (a semaphore).
//! - All of a turn's events come from the task that owns it, so `seq` is
//!   strictly increasing and `done` is last.
//! - Cancel: a queued turn ends at once; a running turn's token fires and the
//!   agent loop returns immediately (closing open `tool_use` blocks).
//! - Shutdown cancels everything and waits (bounded) until every turn has
//!   persisted its final status and queued its `done` event.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use synapse_agent::{Agent, BoxFuture, ToolCall, ToolHost, ToolOutcome, TurnObserver, TurnSpec};
use synapse_protocol::PermissionMode;
use synapse_protocol::{
    method, ErrorKind, Timestamp, ToolCallRecord, ToolCancelParams, ToolErrorEnvelope,
    ToolInvokeParams, ToolInvokeResult, ToolSpec, TurnCounts, TurnError, TurnEventKind, TurnInfo,
    TurnResult, TurnStatus, TurnSubmitParams, Usage,
};
use synapse_rpc::{Peer, PeerError};
use synapse_store::{NewTurn, Store};
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::events::{Global, Hub};
use crate::hosts::Host;
use crate::state::State;

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const FINAL: u8 = 2;

/// Errors of the turn methods, mapped to contract codes by `methods`.
#[derive(Debug, thiserror::Error)]
pub enum TurnsError {
    /// `-32001`.
    #[error("Not found: {0}")]
    NotFound(String),
    /// `-32003`.
    #[error("{0}")]
    NoHost(String),
    /// `-32602`.
    #[error("{0}")]
    InvalidParams(String),
    /// `-32603`.
    #[error("{0}")]
    Internal(String),
    /// `-32603`: the store cannot take the write (disk full, I/O error).
    #[error("{0}")]
    Storage(String),
    /// `-32004`: no API credential anywhere; nothing was stored.
    #[error("{0}")]
    NoCredential(String),
}

impl From<synapse_store::StoreError> for TurnsError {
    fn from(e: synapse_store::StoreError) -> Self {
        TurnsError::Internal(format!("store: {e}"))
    }
}

/// A turn that is queued or running (or just ended, until removed).
#[derive(Debug)]
pub struct LiveTurn {
    /// The turn.
    pub turn_id: String,
    /// Its session.
    pub session_id: String,
    prompt: String,
    pub(crate) params: TurnSubmitParams,
    host: Option<Host>,
    /// Its permission mode (§11).
    pub(crate) mode: PermissionMode,
    /// Calls waiting for `turn.approve`.
    pub(crate) approvals: crate::approvals::TurnApprovals,
    created_at: Timestamp,
    phase: AtomicU8,
    cancel: CancellationToken,
    /// Its events.
    pub hub: Hub,
    result: watch::Sender<Option<TurnResult>>,
    /// Set when the turn was committed `running` at submit: what its worker
    /// needs, taken by [`Turns::start`].
    ready: Mutex<Option<Box<Ready>>>,
    /// Its submit response is queued ([`Turns::start`] was called): its
    /// session's worker may run it (its first event follows that response).
    answered: AtomicBool,
    answered_signal: tokio::sync::Notify,
}

/// Everything a turn reads before its first request (see [`read_start`]).
type Prepared = (
    synapse_store::RawHistory,
    Option<String>,
    Vec<ToolSpec>,
    Vec<String>,
    Option<synapse_agent::credentials::Resolved>,
);

/// A turn started at submit: the session was idle and a slot free, so the
/// turn, `running` and its prompt went in one commit with the submit, and
/// its start-up reads were made in the same blocking call (ADR 0028).
#[derive(Debug)]
struct Ready {
    started_at: Timestamp,
    permit: tokio::sync::OwnedSemaphorePermit,
    prepared: Result<Prepared, TurnsError>,
}

impl LiveTurn {
    fn status(&self) -> TurnStatus {
        match self.phase.load(Ordering::Acquire) {
            QUEUED => TurnStatus::Queued,
            RUNNING if self.approvals.awaiting() => TurnStatus::AwaitingApproval,
            RUNNING => TurnStatus::Running,
            _ => self
                .result
                .borrow()
                .as_ref()
                .map_or(TurnStatus::Cancelled, |r| r.status),
        }
    }

    fn info(&self) -> TurnInfo {
        let result = self.result.borrow().clone();
        TurnInfo {
            turn_id: self.turn_id.clone(),
            session_id: self.session_id.clone(),
            status: self.status(),
            prompt: self.prompt.clone(),
            host_id: self.host.as_ref().map(|h| h.host_id.clone()),
            created_at: self.created_at,
            started_at: result.as_ref().map(|r| r.started_at),
            finished_at: result.as_ref().map(|r| r.finished_at),
            result,
            mode: Some(self.mode),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    live: HashMap<String, Arc<LiveTurn>>,
    /// Per session: queued turns, and whether a worker is running.
    sessions: HashMap<String, (VecDeque<Arc<LiveTurn>>, bool)>,
    closing: bool,
    /// Final results the store could not commit (see [`Turns::finish`]).
    unsaved: HashMap<String, TurnResult>,
}

/// The turn manager.
#[derive(Debug)]
pub struct Turns {
    store: Store,
    agent: Arc<Agent>,
    inner: Mutex<Inner>,
    slots: Arc<Semaphore>,
    /// Subscribers of every turn.
    pub global: Global,
    finished: AtomicU64,
    all_final: tokio::sync::Notify,
    /// The history each session's previous turn read (ADR 0031).
    history: Arc<crate::history_cache::HistoryCache>,
}

impl Turns {
    /// A manager over `store` running turns on `agent`, at most `concurrent_sessions` at once.
    pub fn new(store: Store, agent: Arc<Agent>, concurrent_sessions: usize) -> Self {
        Self {
            store,
            agent,
            inner: Mutex::new(Inner::default()),
            slots: Arc::new(Semaphore::new(concurrent_sessions.max(1))),
            global: Global::default(),
            finished: AtomicU64::new(0),
            all_final: tokio::sync::Notify::new(),
            history: Arc::new(crate::history_cache::HistoryCache::from_env()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store (for session methods).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The agent (model availability for `daemon.status`).
    pub fn agent(&self) -> &Arc<Agent> {
        &self.agent
    }

    /// Running, queued, finished-since-start.
    pub fn counts(&self) -> TurnCounts {
        let inner = self.lock();
        let mut c = TurnCounts {
            finished: self.finished.load(Ordering::Relaxed),
            ..Default::default()
        };
        for t in inner.live.values() {
            match t.phase.load(Ordering::Acquire) {
                QUEUED => c.queued += 1,
                RUNNING => c.running += 1,
                _ => {}
            }
        }
        c
    }

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
    fn reserve(&self, session_id: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
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
    fn release(self: &Arc<Self>, state: &Arc<State>, session_id: &str) {
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

    async fn session_worker(
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
            } = *ready;
            self.run_prepared(&state, turn, started_at, prepared, true)
                .await;
            drop(permit);
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
            self.run(&state, next, permit.is_some()).await;
            drop(permit);
        }
    }

    async fn run(&self, state: &Arc<State>, turn: Arc<LiveTurn>, may_run: bool) {
        let started_at = Timestamp::now();
        // The phase CAS decides who finishes the turn: `cancel` (QUEUED →
        // FINAL) or this worker (QUEUED → RUNNING), never both.
        if turn
            .phase
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        if !may_run || turn.cancel.is_cancelled() {
            self.finish_unstarted(state, &turn, TurnStatus::Cancelled)
                .await;
            return;
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
                read_start(&store, &cache, &sid, host_specs, &tid, false).map(|mut p| {
                    p.4 = crate::auth_gate::resolve(&gate.config).ok();
                    p
                }),
            )
        })
        .await;
        let prepared = prepared.and_then(|p| p);
        self.run_prepared(state, turn, started_at, prepared, false)
            .await;
    }

    /// Run a turn whose start-up reads are made; `prompt_committed`: the
    /// turn was committed `running` with its prompt at submit.
    async fn run_prepared(
        &self,
        state: &Arc<State>,
        turn: Arc<LiveTurn>,
        started_at: Timestamp,
        prepared: Result<Prepared, TurnsError>,
        prompt_committed: bool,
    ) {
        let (history, summary, tools, allowed, credential) = match prepared {
            Ok(h) => h,
            Err(e) => {
                let r = failed_result(
                    &turn,
                    started_at,
                    ErrorKind::Internal,
                    format!("cannot load the session: {e}"),
                );
                self.finish(state, &turn, r).await;
                return;
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
            pending: Mutex::new(Pending::default()),
            meter,
        };
        let mut result = self
            .agent
            .run_turn(spec, &host, &observer, turn.cancel.clone())
            .await;
        result.usage.cost_usd = observer.meter.cost_usd();
        // Usage, tool calls and spend not yet committed with a message: the
        // totals are part of the result (`finish_turn` commits them whole);
        // spend rows left over (an attempt that produced no message, e.g.
        // the one a cancel cut) go in the final status's commit (ADR 0031).
        let leftover = std::mem::take(&mut observer.pending().spends);
        // One `started_at` everywhere: the one stored with the prompt (which
        // `finish_turn` keeps), not the agent's slightly later clock.
        result.started_at = started_at;
        self.finish_spending(state, &turn, result, leftover).await;
    }

    async fn finish_unstarted(&self, state: &Arc<State>, turn: &Arc<LiveTurn>, status: TurnStatus) {
        let now = Timestamp::now();
        let result = TurnResult {
            turn_id: turn.turn_id.clone(),
            session_id: turn.session_id.clone(),
            status,
            text: String::new(),
            iterations: 0,
            tool_calls: Vec::new(),
            usage: Usage {
                cost_usd: Some(0.0),
                ..Usage::default()
            },
            error: None,
            started_at: now,
            finished_at: now,
            mode: None,
        };
        self.finish(state, turn, result).await;
    }

    /// Persist the final status, emit `done`, release waiters.
    ///
    /// The final status reaches clients only once it is committed. When it
    /// cannot be (disk full, I/O error), the turn is reported as what it is,
    /// a failure to save (`api_error`, kind `storage`), and that result is
    /// kept in memory for `turn.get`/`turn.wait` (the store still says
    /// `running`, which the next start turns into `interrupted`).
    async fn finish(&self, state: &Arc<State>, turn: &Arc<LiveTurn>, result: TurnResult) {
        self.finish_spending(state, turn, result, Vec::new()).await;
    }

    /// [`Turns::finish`], committing `spends` (rows not yet recorded) with
    /// the final status.
    async fn finish_spending(
        &self,
        state: &Arc<State>,
        turn: &Arc<LiveTurn>,
        mut result: TurnResult,
        spends: Vec<synapse_store::SpendRecord>,
    ) {
        result.mode = Some(turn.mode);
        // Its final commit may repair (rewrite) the session's history.
        if result.status != TurnStatus::Complete {
            self.history.forget(&turn.session_id);
        }
        let result = match self.persist_final(&result, &spends).await {
            Ok(()) => {
                state.storage.succeeded();
                result
            }
            Err(e) => {
                let error = state.storage.failed("the turn's final status", &e);
                let mut failed = result;
                failed.status = TurnStatus::ApiError;
                failed.error = Some(error);
                // A smaller write may still fit; if not, memory keeps it.
                if self.persist_final(&failed, &spends).await.is_err() {
                    self.lock()
                        .unsaved
                        .insert(turn.turn_id.clone(), failed.clone());
                }
                failed
            }
        };
        turn.phase.store(FINAL, Ordering::Release);
        tracing::info!(turn_id = %turn.turn_id, status = %result.status, iterations = result.iterations,
            input_tokens = result.usage.input_tokens, output_tokens = result.usage.output_tokens, "turn finished");
        turn.result.send_replace(Some(result.clone()));
        turn.hub.emit(TurnEventKind::Done { result }, &self.global);
        self.finished.fetch_add(1, Ordering::Relaxed);
        self.lock().live.remove(&turn.turn_id);
        state.activity.turn_ended();
        self.all_final.notify_waiters();
    }

    /// Commit a final result and, for a turn that stopped early, close its
    /// history so the session can be continued (no other turn of the
    /// session runs meanwhile).
    async fn persist_final(
        &self,
        result: &TurnResult,
        spends: &[synapse_store::SpendRecord],
    ) -> Result<(), TurnsError> {
        let store = self.store.clone();
        let r = result.clone();
        let spends = spends.to_vec();
        blocking(move || {
            // The leftover spend, the final status and (for a turn that
            // stopped early) the history's repair in one commit.
            let repair =
                (r.status != TurnStatus::Complete).then(|| synapse_store::Repair::ended(r.status));
            match store.finish_turn_with(&r, &spends, repair.as_ref(), Timestamp::now()) {
                // Already final in the store (a retry after a partial failure).
                Err(synapse_store::StoreError::InvalidTransition { .. }) => {
                    if !spends.is_empty() {
                        store.record_spends(&spends)?;
                    }
                    if let Some(repair) = &repair {
                        store.repair_session(&r.session_id, repair, Timestamp::now())?;
                    }
                }
                other => {
                    other?;
                }
            }
            Ok(())
        })
        .await
    }

    /// `turn.get`.
    pub async fn get(&self, turn_id: &str) -> Result<TurnInfo, TurnsError> {
        if let Some(t) = self.live(turn_id) {
            return Ok(t.info());
        }
        if let Some(r) = self.lock().unsaved.get(turn_id).cloned() {
            return Ok(unsaved_info(r));
        }
        let store = self.store.clone();
        let id = turn_id.to_owned();
        blocking(move || {
            store
                .get_turn(&id)?
                .ok_or_else(|| TurnsError::NotFound(format!("turn {id}")))
        })
        .await
    }

    pub(crate) fn live(&self, turn_id: &str) -> Option<Arc<LiveTurn>> {
        self.lock().live.get(turn_id).cloned()
    }

    /// `turn.wait`: `Ok(None)` when the timeout passed first.
    pub async fn wait(
        &self,
        turn_id: &str,
        timeout: Option<Duration>,
        caller: &Peer,
    ) -> Result<Option<TurnResult>, TurnsError> {
        let Some(t) = self.live(turn_id) else {
            let info = self.get(turn_id).await?;
            return match info.result {
                Some(r) => Ok(Some(r)),
                None => Err(TurnsError::Internal(format!(
                    "turn {turn_id} is {} but not running",
                    info.status
                ))),
            };
        };
        let mut rx = t.result.subscribe();
        let wait = rx.wait_for(Option::is_some);
        let outcome = match timeout {
            Some(d) => tokio::select! {
                r = tokio::time::timeout(d, wait) => r.ok(),
                () = caller.closed() => None,
            },
            None => tokio::select! {
                r = wait => Some(r),
                () = caller.closed() => None,
            },
        };
        match outcome {
            Some(Ok(r)) => Ok(r.clone()),
            Some(Err(_)) => Err(TurnsError::Internal("turn vanished".into())),
            None => Ok(None),
        }
    }

    /// `turn.cancel`: true when the turn was not final yet.
    pub async fn cancel(
        self: &Arc<Self>,
        state: &Arc<State>,
        turn_id: &str,
    ) -> Result<bool, TurnsError> {
        let Some(t) = self.live(turn_id) else {
            self.get(turn_id).await?;
            return Ok(false);
        };
        if t.phase.load(Ordering::Acquire) == FINAL {
            return Ok(false);
        }
        t.cancel.cancel();
        // A queued turn ends now rather than when its session gets to it.
        if t.phase
            .compare_exchange(QUEUED, FINAL, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.finish_unstarted(state, &t, TurnStatus::Cancelled)
                .await;
        }
        Ok(true)
    }

    /// `turn.subscribe`.
    pub async fn subscribe(&self, turn_id: Option<&str>, peer: &Peer) -> Result<(), TurnsError> {
        match turn_id {
            None => {
                self.global.add(peer);
                Ok(())
            }
            Some(id) => match self.live(id) {
                Some(t) => {
                    t.hub.subscribe(peer);
                    Ok(())
                }
                None => self.get(id).await.map(|_| ()),
            },
        }
    }

    /// Shutdown: refuse new turns, cancel all, wait until every turn is final.
    pub async fn finish_all(self: &Arc<Self>, state: &Arc<State>, limit: Duration) {
        let live: Vec<Arc<LiveTurn>> = {
            let mut inner = self.lock();
            inner.closing = true;
            inner.live.values().cloned().collect()
        };
        for t in &live {
            let _ = self.cancel(state, &t.turn_id).await;
        }
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.all_final.notified();
            if self.lock().live.is_empty() {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!("turns still live at shutdown deadline; they will be found interrupted at next start");
                return;
            }
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

/// The tools a turn offers: its host's (`host_specs`, remembered for the
/// session); else, when the session's history holds tool blocks, the
/// session's last known specs (every call then gets `HostUnavailable`);
/// else none. Runs on a blocking thread.
fn session_tools(
    store: &Store,
    cache: &crate::history_cache::HistoryCache,
    session_id: &str,
    host_specs: Option<Vec<ToolSpec>>,
) -> Vec<ToolSpec> {
    match host_specs {
        Some(specs) => {
            if let Err(e) = store.set_session_tool_specs(session_id, &specs) {
                tracing::warn!(error = %e, "cannot save the session's tool specs");
            }
            specs
        }
        None => match cache.has_tool_blocks(store, session_id) {
            Ok(true) => store
                .session_tool_specs(session_id)
                .ok()
                .flatten()
                .unwrap_or_default(),
            _ => Vec::new(),
        },
    }
}

/// `turn.get` of a turn whose final result lives only in memory.
fn unsaved_info(r: TurnResult) -> TurnInfo {
    TurnInfo {
        mode: r.mode,
        turn_id: r.turn_id.clone(),
        session_id: r.session_id.clone(),
        status: r.status,
        prompt: String::new(),
        host_id: None,
        created_at: r.started_at,
        started_at: Some(r.started_at),
        finished_at: Some(r.finished_at),
        result: Some(r),
    }
}

fn failed_result(
    turn: &LiveTurn,
    started_at: Timestamp,
    kind: ErrorKind,
    message: String,
) -> TurnResult {
    TurnResult {
        turn_id: turn.turn_id.clone(),
        session_id: turn.session_id.clone(),
        status: TurnStatus::ApiError,
        text: String::new(),
        iterations: 0,
        tool_calls: Vec::new(),
        usage: Usage {
            cost_usd: Some(0.0),
            ..Usage::default()
        },
        error: Some(TurnError { kind, message }),
        started_at,
        finished_at: Timestamp::now(),
        mode: None,
    }
}

/// Every read a turn needs before its first request, on a blocking thread:
/// the history to send (after the newest compaction record, whose summary
/// goes in front; refusal turns left out) as stored JSON text, the tools to
/// offer, and the session's `allow_session` answers.
/// `prompt_stored`: the turn's prompt is already stored (left out); the
/// history comes through the session's cache (ADR 0031).
fn read_start(
    store: &Store,
    cache: &crate::history_cache::HistoryCache,
    sid: &str,
    host_specs: Option<Vec<ToolSpec>>,
    tid: &str,
    prompt_stored: bool,
) -> Result<Prepared, TurnsError> {
    let (history, summary) = cache.load(store, sid, prompt_stored).map_err(|e| {
        cache.forget(sid);
        match e {
            crate::history_cache::HistoryError::Store(e) => TurnsError::from(e),
            other => TurnsError::Internal(other.to_string()),
        }
    })?;
    let tools = session_tools(store, cache, sid, host_specs);
    let allowed = store.session_allowed_tools(sid).unwrap_or_else(|e| {
        tracing::warn!(turn_id = %tid, error = %e, "cannot read the session's allowed tools");
        Vec::new()
    });
    Ok((history, summary, tools, allowed, None))
}

/// The prompt as the agent loop stores it (the first message of a turn).
fn prompt_message(prompt: &str) -> Value {
    json!({"role": "user", "content": [{"type": "text", "text": prompt}]})
}

/// Run a store call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TurnsError> + Send + 'static,
) -> Result<T, TurnsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TurnsError::Internal(format!("store task failed: {e}")))?
}

/// Tool calls go to the turn's host over `tool.invoke`.
struct DaemonToolHost {
    host: Option<Host>,
    tools: Vec<ToolSpec>,
    /// The permission gate (§11).
    gate: crate::approvals::Gate,
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
            return ToolOutcome::error(&ToolErrorEnvelope::synthetic(
                &call.name,
                "NotPermitted",
                format!(
                    "the turn runs in read_only mode and {} changes the scene; it was not run. \
                     Use read-only tools, or tell the artist what you would change",
                    call.name
                ),
            ));
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
struct SendToolCancel<'a> {
    peer: &'a Peer,
    call_id: Option<String>,
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

/// Events to subscribers; messages to the store, each in one commit with the
/// usage and tool-call records gathered since the previous one.
///
/// The first message (the prompt) starts the turn: `queued` → `running` and
/// the prompt in one commit, then the `running` event (unless the turn was
/// committed `running` with its prompt at submit: then nothing is written). So the path from the
/// worker taking a turn to its first request byte makes one fsync, and each
/// tool round two (the assistant message with its usage, the tool results
/// with their call records). Usage of an attempt that produced no message (a
/// retried or failed one) rides with the next commit or the final status.
struct Observer<'a> {
    turns: &'a Turns,
    state: &'a Arc<State>,
    turn: &'a LiveTurn,
    started_at: Timestamp,
    started: AtomicBool,
    /// The prompt was committed with the turn at submit (and the `running`
    /// event sent): the first message is not written again.
    prompt_committed: bool,
    /// Usage, tool calls and spend rows not yet committed.
    pending: Mutex<Pending>,
    /// The turn's spend (§12).
    meter: crate::budget::TurnMeter,
}

/// What rides with the next message commit.
#[derive(Default)]
struct Pending {
    usage: Usage,
    calls: Vec<ToolCallRecord>,
    spends: Vec<synapse_store::SpendRecord>,
}

impl Observer<'_> {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TurnObserver for Observer<'_> {
    fn compaction(&self, upto_idx: i64, summary: &str) -> BoxFuture<'_, Result<(), TurnError>> {
        let store = self.turns.store.clone();
        let sid = self.turn.session_id.clone();
        let tid = self.turn.turn_id.clone();
        let summary = summary.to_owned();
        // A new compaction record: the session's history starts elsewhere.
        self.turns.history.forget(&sid);
        Box::pin(async move {
            match blocking(move || Ok(store.add_compaction(&sid, &tid, upto_idx, &summary)?)).await
            {
                Ok(()) => {
                    self.state.storage.succeeded();
                    Ok(())
                }
                Err(e) => Err(self.state.storage.failed("the conversation's summary", &e)),
            }
        })
    }

    fn event(&self, kind: TurnEventKind) {
        self.turn.hub.emit(kind, &self.turns.global);
    }

    fn usage(&self, usage: &Usage) {
        let (priced, spend) = self.meter.record(usage);
        self.state
            .usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(&priced);
        let mut pending = self.pending();
        pending.usage.add(usage);
        pending.spends.push(spend);
    }

    fn before_request(&self) -> Result<(), TurnError> {
        self.meter.check()
    }

    fn tool_call(&self, record: &ToolCallRecord) {
        self.pending().calls.push(record.clone());
    }

    fn message(&self, message: Value) -> BoxFuture<'_, Result<(), TurnError>> {
        Box::pin(async move {
            let store = self.turns.store.clone();
            let sid = self.turn.session_id.clone();
            let tid = self.turn.turn_id.clone();
            let first = !self.started.swap(true, Ordering::AcqRel);
            if first && self.prompt_committed {
                return Ok(());
            }
            let saved = if first {
                let at = self.started_at;
                blocking(move || Ok(store.start_turn(&sid, &tid, at, &message)?)).await
            } else {
                let p = std::mem::take(&mut *self.pending());
                blocking(move || {
                    Ok(store
                        .append_message_with(&sid, &tid, &message, &p.usage, &p.calls, &p.spends)?)
                })
                .await
            };
            match saved {
                Ok(()) => {
                    self.state.storage.succeeded();
                    if first {
                        self.turn.hub.emit(
                            TurnEventKind::Status {
                                status: TurnStatus::Running,
                            },
                            &self.turns.global,
                        );
                    }
                    Ok(())
                }
                Err(e) => {
                    let what = if first {
                        "the turn's prompt"
                    } else {
                        "the conversation"
                    };
                    Err(self.state.storage.failed(what, &e))
                }
            }
        })
    }
}
