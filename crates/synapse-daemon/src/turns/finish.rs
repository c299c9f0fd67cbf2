//! Final statuses: committed before `done` goes out, kept in memory when the store cannot take them, and shutdown.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use synapse_protocol::{Timestamp, TurnEventKind, TurnResult, TurnStatus};

use crate::state::State;

use super::{blocking, empty_result, LiveTurn, Turns, TurnsError, FINAL};

impl Turns {
    pub(super) async fn finish_unstarted(
        self: &Arc<Self>,
        state: &Arc<State>,
        turn: &Arc<LiveTurn>,
        status: TurnStatus,
    ) {
        let result = empty_result(turn, Timestamp::now(), status, None);
        self.finish(state, turn, result).await;
    }

    /// Persist the final status, emit `done`, release waiters.
    ///
    /// The final status reaches clients only once it is committed. When it
    /// cannot be (disk full, I/O error), the turn is reported as what it is,
    /// a failure to save (`api_error`, kind `storage`), and that result is
    /// kept in memory for `turn.get`/`turn.wait` (the store still says
    /// `running`, which the next start turns into `interrupted`).
    pub(super) async fn finish(
        self: &Arc<Self>,
        state: &Arc<State>,
        turn: &Arc<LiveTurn>,
        result: TurnResult,
    ) {
        self.finish_spending(state, turn, result, Vec::new(), false)
            .await;
    }

    /// [`Turns::finish`], committing `spends` (rows not yet recorded) with
    /// the final status. `worker`: called by the session's worker for the
    /// turn it runs; then, when no other turn of the session is queued, the
    /// session is free again as soon as the final status is committed
    /// (before `done`), and `true` says the worker no longer owns it.
    pub(super) async fn finish_spending(
        self: &Arc<Self>,
        state: &Arc<State>,
        turn: &Arc<LiveTurn>,
        mut result: TurnResult,
        spends: Vec<synapse_store::SpendRecord>,
        worker: bool,
    ) -> bool {
        result.mode = Some(turn.mode);
        // Its final commit may repair (rewrite) the session's history.
        if result.status != TurnStatus::Complete {
            self.history.forget(&turn.session_id);
        }
        // The final commit and `done` in one blocking call: `done` goes out
        // from the thread that made the commit, with no task to wake between
        // them (ADR 0035).
        let committed = {
            let (this, st, t, r, sp) = (
                self.clone(),
                state.clone(),
                turn.clone(),
                result.clone(),
                spends.clone(),
            );
            blocking(move || {
                tracing::trace!(target: "synapse::hot", "final: committing");
                persist_final(&this.store, &r, &sp)?;
                tracing::trace!(target: "synapse::hot", "final: committed");
                st.storage.succeeded();
                Ok(this.publish_final(&st, &t, r, worker))
            })
            .await
        };
        let e = match committed {
            Ok(released) => return released,
            Err(e) => e,
        };
        let error = state.storage.failed("the turn's final status", &e);
        let mut failed = result;
        failed.status = TurnStatus::ApiError;
        failed.error = Some(error);
        // A smaller write may still fit; if not, memory keeps it.
        let (store, r) = (self.store.clone(), failed.clone());
        if blocking(move || persist_final(&store, &r, &spends))
            .await
            .is_err()
        {
            self.lock()
                .unsaved
                .insert(turn.turn_id.clone(), failed.clone());
        }
        self.publish_final(state, turn, failed, worker)
    }

    /// A final result, once committed (or kept in memory): `done` and the
    /// waiters. Synchronous (called on the committing thread). `worker`:
    /// see [`Turns::finish_spending`]; returns whether the session was
    /// released.
    fn publish_final(
        &self,
        state: &State,
        turn: &LiveTurn,
        result: TurnResult,
        worker: bool,
    ) -> bool {
        turn.phase.store(FINAL, Ordering::Release);
        tracing::info!(turn_id = %turn.turn_id, status = %result.status, iterations = result.iterations,
            input_tokens = result.usage.input_tokens, output_tokens = result.usage.output_tokens, "turn finished");
        let released = {
            let mut inner = self.lock();
            inner.live.remove(&turn.turn_id);
            // A client told `done` may submit the session's next turn at
            // once: it finds the session idle (and starts at submit), not
            // still held by a worker on its way out.
            let idle = worker
                && inner
                    .sessions
                    .get(&turn.session_id)
                    .is_some_and(|(q, _)| q.is_empty());
            if idle {
                inner.sessions.remove(&turn.session_id);
            }
            idle
        };
        // Counted before `done` goes out: a client told `done` sees it in
        // `daemon.status`.
        self.finished.fetch_add(1, Ordering::Relaxed);
        state.activity.turn_ended();
        turn.result.send_replace(Some(result.clone()));
        turn.hub.emit(TurnEventKind::Done { result }, &self.global);
        self.all_final.notify_waiters();
        released
    }

    /// Drop a turn whose submit commit failed (ADR 0035): it never existed
    /// for any client (no answer said so, its held events are never sent,
    /// nothing of it is stored), and its request was cut. The spend its
    /// request reported is still recorded (a request the API may bill),
    /// under the dropped turn's id; when even that cannot be stored it is
    /// logged.
    pub(super) async fn discard(
        &self,
        turn: &Arc<LiveTurn>,
        spends: Vec<synapse_store::SpendRecord>,
    ) {
        self.history.forget(&turn.session_id);
        turn.phase.store(FINAL, Ordering::Release);
        tracing::warn!(turn_id = %turn.turn_id, session_id = %turn.session_id,
            "the turn's submit commit failed: its request was cut and the turn dropped");
        if spends.is_empty() {
            return;
        }
        let store = self.store.clone();
        let rows = spends.clone();
        if let Err(e) = blocking(move || Ok(store.record_spends(&rows)?)).await {
            let (input, output) = spends.iter().fold((0, 0), |(i, o), s| {
                (i + s.usage.input_tokens, o + s.usage.output_tokens)
            });
            tracing::warn!(turn_id = %turn.turn_id, input_tokens = input, output_tokens = output,
                error = %e, "cannot record the spend of a dropped turn's request");
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

/// Commit a final result and, for a turn that stopped early, close its
/// history so the session can be continued (no other turn of the session
/// runs meanwhile). Blocking.
fn persist_final(
    store: &synapse_store::Store,
    r: &TurnResult,
    spends: &[synapse_store::SpendRecord],
) -> Result<(), TurnsError> {
    // The leftover spend, the final status and (for a turn that stopped
    // early) the history's repair in one commit.
    let repair = (r.status != TurnStatus::Complete).then(|| synapse_store::Repair::ended(r.status));
    match store.finish_turn_with(r, spends, repair.as_ref(), Timestamp::now()) {
        // Already final in the store (a retry after a partial failure).
        Err(synapse_store::StoreError::InvalidTransition { .. }) => {
            if !spends.is_empty() {
                store.record_spends(spends)?;
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
}
