//! `turn.get`, `turn.wait`, `turn.cancel` and `turn.subscribe`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use synapse_protocol::{TurnInfo, TurnResult, TurnStatus};
use synapse_rpc::Peer;

use crate::state::State;

use super::{blocking, unsaved_info, LiveTurn, Turns, TurnsError, FINAL, QUEUED};

impl Turns {
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
}
