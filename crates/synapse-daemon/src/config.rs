//! What the daemon is started with.

use std::path::PathBuf;
use std::time::Duration;

use synapse_agent::Settings;
use synapse_protocol::AuthState;

/// Daemon settings resolved by the binary (flags > env > file > defaults).
#[derive(Clone, Debug)]
pub struct DaemonConfig {
    /// Socket path to bind.
    pub socket: PathBuf,
    /// Where the database lives.
    pub data_dir: PathBuf,
    /// Exit once idle this long (no connection, no live turn).
    pub exit_when_idle: Option<Duration>,
    /// Agent settings (model, limits, credentials, timeouts).
    pub settings: Settings,
    /// Permission modes, approvals and budgets (§11, §12).
    pub policy: crate::policy::Policy,
    /// The clock the daily budget counts days with (tests inject one).
    pub clock: std::sync::Arc<dyn crate::budget::Clock>,
}

impl DaemonConfig {
    /// Whether an API credential is configured.
    pub fn auth(&self) -> AuthState {
        if self.settings.has_credential() {
            AuthState::Ok
        } else {
            AuthState::Missing
        }
    }
}
