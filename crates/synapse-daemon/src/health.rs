//! Whether the store is taking writes, for `daemon.status.storage`.
//!
//! Every write on a turn's path reports here: a failure (disk full, I/O
//! error) marks storage faulty with the store's message and the time it
//! started; the next successful write clears it. The daemon stays up
//! meanwhile: turns that cannot be saved end `api_error` with
//! `error.kind: "storage"`, and turns work again once there is room.

use std::sync::Mutex;

use synapse_protocol::{ErrorKind, StorageStatus, Timestamp, TurnError};

/// The storage state shared by every turn.
#[derive(Debug, Default)]
pub struct StorageHealth {
    fault: Mutex<Option<(String, Timestamp)>>,
}

impl StorageHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(String, Timestamp)>> {
        self.fault.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A write succeeded.
    pub fn succeeded(&self) {
        let mut fault = self.lock();
        if fault.is_some() {
            tracing::info!("storage takes writes again");
            *fault = None;
        }
    }

    /// A write failed with `error`; returns the turn error to end the turn
    /// with, saying `what` could not be saved.
    pub fn failed(&self, what: &str, error: &dyn std::fmt::Display) -> TurnError {
        let message = error.to_string();
        tracing::error!(error = %message, "cannot save {what}");
        let mut fault = self.lock();
        match fault.as_mut() {
            Some((last, _)) => *last = message.clone(),
            None => *fault = Some((message.clone(), Timestamp::now())),
        }
        TurnError {
            kind: ErrorKind::Storage,
            message: format!(
                "the daemon could not save {what} ({message}). \
                 Everything saved before is kept; free disk space and try again"
            ),
        }
    }

    /// The `daemon.status.storage` value.
    pub fn status(&self) -> StorageStatus {
        match &*self.lock() {
            None => StorageStatus::default(),
            Some((error, since)) => StorageStatus {
                ok: false,
                error: Some(error.clone()),
                since: Some(*since),
            },
        }
    }
}
