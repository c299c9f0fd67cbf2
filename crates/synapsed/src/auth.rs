//! Where the CLI and the daemon find the API key.

use std::sync::Arc;

use synapse_agent::credentials::{CredentialResolver, FixedCredential};
use synapse_agent::Settings;

/// The resolver of the settings' credential.
pub fn resolver(settings: &Settings) -> Arc<dyn CredentialResolver> {
    Arc::new(FixedCredential::from_settings(settings))
}
