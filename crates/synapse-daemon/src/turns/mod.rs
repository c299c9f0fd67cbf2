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
//!
//! Modules: `submit` (the submit commit), `worker` (session workers and the
//! agent run), `startup` (the reads before a first request), `tool_host`
//! (`tool.invoke` behind the permission gate), `observer` (events and message
//! commits), `finish` (final statuses and shutdown), `control` (`turn.get`,
//! `wait`, `cancel`, `subscribe`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use synapse_agent::Agent;
use synapse_protocol::PermissionMode;
use synapse_protocol::{
    ErrorKind, Timestamp, ToolSpec, TurnCounts, TurnError, TurnInfo, TurnResult, TurnStatus,
    TurnSubmitParams, Usage,
};
use synapse_store::Store;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::events::{Global, Hub};
use crate::hosts::Host;

mod control;
mod finish;
mod observer;
mod startup;
mod submit;
mod tool_host;
mod worker;

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
    /// Its submit response is queued ([`Turns::start`] was called): its
    /// session's worker may run it (its first event follows that response).
    answered: AtomicBool,
    answered_signal: tokio::sync::Notify,
}

/// Everything a turn reads before its first request (see [`read_start`](startup::read_start)).
type Prepared = (
    synapse_store::RawHistory,
    Option<String>,
    Vec<ToolSpec>,
    Vec<String>,
    Option<synapse_agent::credentials::Resolved>,
);

/// A turn started at submit: the session was idle and a slot free, so the
/// turn, `running` and its prompt go in one commit with the submit, and
/// its start-up reads were made in the same blocking call just before that
/// commit (ADR 0028). Its first request goes out while the commit runs
/// (ADR 0035): `commit` says how the commit ended.
#[derive(Debug)]
struct Ready {
    started_at: Timestamp,
    permit: tokio::sync::OwnedSemaphorePermit,
    prepared: Result<Prepared, TurnsError>,
    commit: watch::Receiver<Commit>,
}

/// The submit commit of a turn started at submit, as its worker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Commit {
    /// Still running: the turn exists for no client; nothing of it may be
    /// written or sent.
    Pending,
    /// Committed and the turn registered: it exists.
    Done,
    /// The commit failed: the turn never existed for any client and is
    /// dropped (its request cut, nothing written but its spend).
    Failed,
}

/// Wait until the submit commit ended: `true` when it succeeded. A sender
/// gone without saying (its task died) counts as a failure.
async fn committed(rx: &watch::Receiver<Commit>) -> bool {
    let mut rx = rx.clone();
    let done = match rx.wait_for(|c| *c != Commit::Pending).await {
        Ok(c) => *c == Commit::Done,
        Err(_) => false,
    };
    done
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

/// The result of a turn that ended before the model produced anything:
/// `status`, no text, no usage (priced at zero), and `error` if any.
fn empty_result(
    turn: &LiveTurn,
    started_at: Timestamp,
    status: TurnStatus,
    error: Option<TurnError>,
) -> TurnResult {
    TurnResult {
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
        error,
        started_at,
        finished_at: Timestamp::now(),
        mode: None,
    }
}

/// [`empty_result`] of a turn that failed (`api_error`) with `kind`.
fn failed_result(
    turn: &LiveTurn,
    started_at: Timestamp,
    kind: ErrorKind,
    message: String,
) -> TurnResult {
    empty_result(
        turn,
        started_at,
        TurnStatus::ApiError,
        Some(TurnError { kind, message }),
    )
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
