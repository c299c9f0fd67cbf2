//! `turn.submit` is refused when no API credential can be found (ADR 0029).
//!
//! Checked at each submit, before anything is stored: a turn that could only
//! end `api_error`/`authentication` is not created, and neither is its
//! session. The credential is resolved once per turn, at its start (at
//! submit for a turn that starts at once, else when its worker takes it),
//! and handed to the agent for all of the turn's requests (ADR 0031), so a
//! key stored after the daemon started (`synapsed auth login`) is used from
//! the next turn on.
//!
//! The error is `-32004` "No API key"; its `data` (a string, like the
//! `-32602` explanations) says what to run. It never contains a credential.

use synapse_agent::credentials::{CredentialResolver, FixedCredential, Resolved};

use crate::config::DaemonConfig;
use crate::turns::TurnsError;

/// What a user does about a missing key, for a daemon that is already
/// running (a key exported in the client's shell does not reach it).
pub const FIX: &str =
    "run `synapsed auth login` (a running daemon uses the key from the next turn), \
or set ANTHROPIC_API_KEY in the daemon's environment and restart it";

/// Why a submit was refused: the text of the error's `data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing(pub String);

/// Ok when a credential can be found now (environment, OS keyring, key
/// file, or the settings of an embedded daemon). Blocking: the OS keyring
/// may be asked over D-Bus; call it from a blocking task.
pub fn require(config: &DaemonConfig) -> Result<(), Missing> {
    resolve(config).map(|_| ())
}

/// The credential found now (see [`require`]). Blocking.
pub fn resolve(config: &DaemonConfig) -> Result<Resolved, Missing> {
    let resolved = match &config.credentials {
        Some(c) => c.resolve(),
        None => FixedCredential::from_settings(&config.settings).resolve(),
    };
    match resolved {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(Missing(format!(
            "none in the environment, the OS keyring or the key file; {FIX}"
        ))),
        Err(e) => Err(Missing(format!("{e}; {FIX}"))),
    }
}

/// The credential when it is known without I/O (see
/// [`CredentialResolver::resolve_without_io`]):
/// a submit can then start its turn without a blocking call. `None`: ask
/// [`resolve`] from a blocking thread.
pub(crate) fn known_now(config: &DaemonConfig) -> Option<Resolved> {
    match &config.credentials {
        Some(c) => c.resolve_without_io(),
        None => FixedCredential::from_settings(&config.settings).resolve_without_io(),
    }
}

/// The submit's check: `-32004` when no credential is found, except that an
/// unknown continued session is still `-32001` (the params' error first).
/// Nothing is written. The credential found is the turn's when it starts
/// at once.
pub(crate) fn check_submit(
    config: &DaemonConfig,
    store: &synapse_store::Store,
    continued: Option<&str>,
) -> Result<Resolved, TurnsError> {
    let why = match resolve(config) {
        Ok(r) => return Ok(r),
        Err(Missing(why)) => why,
    };
    if let Some(id) = continued {
        if !store.session_exists(id)? {
            return Err(TurnsError::NotFound(format!("session {id}")));
        }
    }
    Err(TurnsError::NoCredential(why))
}
