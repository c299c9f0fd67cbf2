//! Where the API credential comes from, resolved when it is needed.
//!
//! The Anthropic client asks its [`CredentialResolver`] before each request,
//! so a key stored after the daemon started (`synapsed auth login`) is used
//! without a restart. [`FixedCredential`] is the credential of the
//! [`Settings`] (environment or config file at start); the binary layers the
//! OS keyring and the key file behind it.
//!
//! The credential is a [`Secret`]: it never prints itself, and no error of
//! this module contains it.

use std::fmt;

use crate::config::{Secret, Settings};

/// A credential and how it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// Sent as `x-api-key`.
    ApiKey(Secret),
    /// Sent as `Authorization: Bearer`.
    AuthToken(Secret),
}

/// Where a credential was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// `ANTHROPIC_API_KEY` / `ANTHROPIC_AUTH_TOKEN` of the process (or the
    /// config file's `api_key` / `auth_token`).
    Env,
    /// The OS keyring (`synapsed auth login`).
    Keyring,
    /// The 0600 key file in the config dir (`synapsed auth login` without a
    /// reachable keyring).
    File,
}

impl CredentialSource {
    /// `env`, `keyring`, `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Env => "env",
            Self::Keyring => "keyring",
            Self::File => "file",
        }
    }
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A credential with its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The credential.
    pub credential: Credential,
    /// Where it came from.
    pub source: CredentialSource,
}

/// Why no credential could be read (a store exists but failed). Never
/// contains the credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(pub String);

/// Finds the credential at the time of a request.
pub trait CredentialResolver: Send + Sync + fmt::Debug {
    /// The credential to use now; `Ok(None)` when there is none anywhere.
    fn resolve(&self) -> Result<Option<Resolved>, CredentialError>;

    /// The credential [`resolve`](Self::resolve) would return, when that is
    /// known without I/O (fixed at start, no keyring or file to ask).
    /// `None` says only that `resolve` must be asked, from a thread that
    /// may block.
    fn resolve_without_io(&self) -> Option<Resolved> {
        None
    }
}

/// The credential of the settings, fixed at start.
#[derive(Clone, Debug, Default)]
pub struct FixedCredential(pub Option<Resolved>);

impl FixedCredential {
    /// The settings' API key, else their auth token (source `env`).
    pub fn from_settings(settings: &Settings) -> Self {
        let credential = if let Some(k) = &settings.api_key {
            Some(Credential::ApiKey(k.clone()))
        } else {
            settings
                .auth_token
                .as_ref()
                .map(|t| Credential::AuthToken(t.clone()))
        };
        Self(credential.map(|credential| Resolved {
            credential,
            source: CredentialSource::Env,
        }))
    }
}

impl CredentialResolver for FixedCredential {
    fn resolve(&self) -> Result<Option<Resolved>, CredentialError> {
        Ok(self.0.clone())
    }

    fn resolve_without_io(&self) -> Option<Resolved> {
        self.0.clone()
    }
}
