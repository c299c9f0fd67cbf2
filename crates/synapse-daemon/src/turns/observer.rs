//! What the agent loop reports: events to subscribers and messages to the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use synapse_agent::{BoxFuture, TurnObserver};
use synapse_protocol::{Timestamp, ToolCallRecord, TurnError, TurnEventKind, TurnStatus, Usage};

use crate::state::State;

use tokio::sync::watch;

use super::{blocking, committed, Commit, LiveTurn, Turns};

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
pub(super) struct Observer<'a> {
    pub(super) turns: &'a Turns,
    pub(super) state: &'a Arc<State>,
    pub(super) turn: &'a LiveTurn,
    pub(super) started_at: Timestamp,
    pub(super) started: AtomicBool,
    /// The prompt was committed with the turn at submit (and the `running`
    /// event sent): the first message is not written again.
    pub(super) prompt_committed: bool,
    /// The submit commit of a turn started at submit (ADR 0035): every
    /// write of the turn waits for it, and fails when it failed.
    pub(super) commit: Option<watch::Receiver<Commit>>,
    /// Usage, tool calls and spend rows not yet committed.
    pub(super) pending: Mutex<Pending>,
    /// The turn's spend (§12).
    pub(super) meter: crate::budget::TurnMeter,
}

/// What rides with the next message commit.
#[derive(Default)]
pub(super) struct Pending {
    pub(super) usage: Usage,
    pub(super) calls: Vec<ToolCallRecord>,
    pub(super) spends: Vec<synapse_store::SpendRecord>,
}

impl Observer<'_> {
    /// Wait for the turn's submit commit (no-op when it was made before the
    /// turn started): a turn whose commit failed writes nothing.
    async fn committed(&self) -> Result<(), TurnError> {
        match &self.commit {
            Some(c) if !committed(c).await => Err(TurnError {
                kind: synapse_protocol::ErrorKind::Storage,
                message: "the turn was not saved (its submit failed)".into(),
            }),
            _ => Ok(()),
        }
    }

    pub(super) fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
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
            self.committed().await?;
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
            self.committed().await?;
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
