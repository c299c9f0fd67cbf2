//! Open connections and live turns, and `--exit-when-idle`.
//!
//! The daemon is idle when no connection is open and no turn is queued or
//! running. [`exit_when_idle`] resolves once it has stayed idle for the
//! configured time without a break; any activity restarts the clock.

use std::sync::Arc;

use tokio::sync::watch;

use crate::state::State;

/// Counts of what keeps the daemon busy.
#[derive(Debug)]
pub struct Activity {
    tx: watch::Sender<(u64, u64)>,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            tx: watch::channel((0, 0)).0,
        }
    }
}

impl Activity {
    fn update(&self, f: impl FnOnce(&mut (u64, u64))) {
        self.tx.send_modify(f);
    }

    /// A connection was accepted.
    pub fn connection_opened(&self) {
        self.update(|c| c.0 += 1);
    }

    /// A connection ended.
    pub fn connection_closed(&self) {
        self.update(|c| c.0 = c.0.saturating_sub(1));
    }

    /// A turn was queued.
    pub fn turn_started(&self) {
        self.update(|c| c.1 += 1);
    }

    /// A turn became final.
    pub fn turn_ended(&self) {
        self.update(|c| c.1 = c.1.saturating_sub(1));
    }

    /// Open connections now.
    pub fn connections(&self) -> u64 {
        self.tx.borrow().0
    }

    fn subscribe(&self) -> watch::Receiver<(u64, u64)> {
        self.tx.subscribe()
    }
}

/// Resolves once the daemon has been idle for its `exit_when_idle` time;
/// never resolves when that is not set.
pub async fn exit_when_idle(state: Arc<State>) {
    let Some(limit) = state.config.exit_when_idle else {
        return std::future::pending().await;
    };
    let mut rx = state.activity.subscribe();
    loop {
        // Wait until idle.
        if rx
            .wait_for(|&(conns, turns)| conns == 0 && turns == 0)
            .await
            .is_err()
        {
            return std::future::pending().await;
        }
        // Stay idle for `limit` without a break.
        tokio::select! {
            () = tokio::time::sleep(limit) => return,
            changed = rx.changed() => if changed.is_err() { return std::future::pending().await },
        }
    }
}
