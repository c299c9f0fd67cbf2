//! What the daemon is started with.

use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use synapse_agent::credentials::CredentialResolver;
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
    /// Where the API key is looked up at each request (`None`: the
    /// settings' credential only). The binary passes env > keyring > file.
    pub credentials: Option<Arc<dyn CredentialResolver>>,
}

impl DaemonConfig {
    /// A daemon for a benchmark or test run in-process: `socket` and
    /// `data_dir`, no idle exit, default settings and policy, the system
    /// clock, the settings' credential only.
    pub fn local(socket: PathBuf, data_dir: PathBuf) -> Self {
        Self {
            socket,
            data_dir,
            exit_when_idle: None,
            settings: Settings::default(),
            policy: crate::policy::Policy::default(),
            clock: Arc::new(crate::budget::SystemClock::default()),
            credentials: None,
        }
    }

    /// Whether an API credential can be found now.
    pub fn auth(&self) -> AuthState {
        let found = match &self.credentials {
            Some(c) => matches!(c.resolve(), Ok(Some(_))),
            None => self.settings.has_credential(),
        };
        if found {
            AuthState::Ok
        } else {
            AuthState::Missing
        }
    }
}
