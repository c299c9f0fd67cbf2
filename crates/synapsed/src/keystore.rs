//! Where `synapsed auth login` keeps the API key, and how the daemon and the
//! CLI find it: environment > OS keyring > key file (design §15).
//!
//! - OS keyring: the `keyring` crate (Secret Service on Linux, Keychain on
//!   macOS, Credential Manager on Windows), service `synapse`, user
//!   `anthropic-api-key`. `SYNAPSE_KEYRING=off` skips it (servers without a
//!   desktop session, tests).
//! - Key file: `api_key` in the synapse config dir, mode 0600 in a 0700
//!   directory, written atomically; used when no keyring is reachable. A file
//!   readable by group or others is refused, not read.
//! - [`StoredKey`] resolves at each request, so a key stored after the
//!   daemon started is used at once. A locked keyring with no key elsewhere
//!   is an error that says so.
//!
//! No error or log line of this module contains the key (the keyring
//! crate's errors are shown with `Display` only: its `Debug` may carry the
//! secret's bytes).

use std::io::Write;
use std::path::{Path, PathBuf};

use synapse_agent::credentials::{
    Credential, CredentialError, CredentialResolver, CredentialSource, FixedCredential, Resolved,
};
use synapse_agent::{Secret, Settings};

use crate::os_keyring as keyring;

/// Keyring service name.
pub const SERVICE: &str = "synapse";
/// Keyring user name.
pub const USER: &str = "anthropic-api-key";
/// Key file name in the config dir.
pub const KEY_FILE: &str = "api_key";
/// Longest key accepted (bytes).
pub const MAX_KEY_LEN: usize = 4096;

/// Why the OS keyring could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyringError {
    /// No keyring here (no Secret Service on the session bus, no D-Bus
    /// session, disabled with `SYNAPSE_KEYRING=off`).
    Unavailable(String),
    /// The keyring is there but locked, or refused access.
    Locked(String),
    /// Anything else it reported.
    Failed(String),
}

impl std::fmt::Display for KeyringError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(m) => write!(f, "no OS keyring is reachable ({m})"),
            Self::Locked(m) => write!(
                f,
                "the OS keyring is locked or refused access ({m}); unlock it (log in to the desktop session) and try again"
            ),
            Self::Failed(m) => write!(f, "the OS keyring failed: {m}"),
        }
    }
}

impl std::error::Error for KeyringError {}

fn keyring_enabled() -> bool {
    !matches!(
        std::env::var("SYNAPSE_KEYRING")
            .ok()
            .as_deref()
            .map(str::trim),
        Some("off" | "0" | "false" | "no")
    )
}

fn map_keyring(e: keyring::Error) -> KeyringError {
    // Display only: the Debug form of some variants carries secret bytes.
    let msg = e.to_string();
    match e {
        keyring::Error::NoDefaultStore | keyring::Error::PlatformFailure(_) => {
            KeyringError::Unavailable(msg)
        }
        keyring::Error::NoStorageAccess(_) => KeyringError::Locked(msg),
        _ => KeyringError::Failed(msg),
    }
}

fn entry() -> Result<keyring::Entry, KeyringError> {
    if !keyring_enabled() {
        return Err(KeyringError::Unavailable("SYNAPSE_KEYRING=off".into()));
    }
    keyring::Entry::new(SERVICE, USER).map_err(map_keyring)
}

/// The key in the OS keyring, if any.
pub fn keyring_get() -> Result<Option<String>, KeyringError> {
    match entry()?.get_password() {
        Ok(k) => Ok(Some(k)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(map_keyring(e)),
    }
}

/// Store `key` in the OS keyring.
pub fn keyring_set(key: &str) -> Result<(), KeyringError> {
    entry()?.set_password(key).map_err(map_keyring)
}

/// Remove the key from the OS keyring; false if there was none.
pub fn keyring_delete() -> Result<bool, KeyringError> {
    match entry()?.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring::Error::NoEntry) => Ok(false),
        Err(e) => Err(map_keyring(e)),
    }
}

/// The synapse config dir: `SYNAPSE_CONFIG_DIR` when set, else
/// `~/.config/synapse` on Linux (honouring `XDG_CONFIG_HOME`),
/// `%APPDATA%\synapse\config` on Windows (the Roaming AppData known folder,
/// which no environment variable moves).
pub fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CONFIG_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "synapse").map(|d| d.config_dir().to_owned())
}

/// Environment variable that moves the config dir (the key file's and the
/// default `config.toml`'s directory) on every platform.
pub const CONFIG_DIR_ENV: &str = "SYNAPSE_CONFIG_DIR";

/// How the OS keyring is named to the user.
#[cfg(not(windows))]
pub const KEYRING_NAME: &str = "the OS keyring";
/// How the OS keyring is named to the user.
#[cfg(windows)]
pub const KEYRING_NAME: &str = "the OS keyring (Windows Credential Manager)";

/// What protects the key file, as said after storing it.
#[cfg(unix)]
pub const KEY_FILE_PROTECTION: &str = "mode 0600";
/// What protects the key file, as said after storing it.
#[cfg(not(unix))]
pub const KEY_FILE_PROTECTION: &str = "protected only by your profile's permissions";

/// The key file path.
pub fn key_file() -> Option<PathBuf> {
    config_dir().map(|d| d.join(KEY_FILE))
}

/// The key in the key file, if any. A file readable by group or others is
/// refused (its mode is named, never its content).
pub fn file_get(path: &Path) -> std::io::Result<Option<String>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.mode() & 0o077 != 0 {
            return Err(std::io::Error::other(format!(
                "{} is readable by others (mode {:o}); run `chmod 600 {}` or `synapsed auth login` again",
                path.display(),
                meta.mode() & 0o777,
                path.display()
            )));
        }
    }
    let text = std::fs::read_to_string(path)?;
    let key = text.trim();
    Ok((!key.is_empty()).then(|| key.to_owned()))
}

/// Write `key` to `path` (0600, directory 0700), atomically.
pub fn file_set(path: &Path, key: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the key file has no directory"))?;
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let tmp = dir.join(format!(".{KEY_FILE}.{}.tmp", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(key.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Remove the key file; false if there was none.
pub fn file_delete(path: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The resolver of the daemon and the CLI: the settings' credential (env or
/// config file, fixed at start), else the keyring, else the key file, looked
/// up at each request.
#[derive(Debug)]
pub struct StoredKey {
    fixed: FixedCredential,
    file: Option<PathBuf>,
}

impl StoredKey {
    /// For `settings`.
    pub fn new(settings: &Settings) -> Self {
        Self {
            fixed: FixedCredential::from_settings(settings),
            file: key_file(),
        }
    }
}

fn api_key(key: String, source: CredentialSource) -> Resolved {
    Resolved {
        credential: Credential::ApiKey(Secret::new(key)),
        source,
    }
}

impl CredentialResolver for StoredKey {
    fn resolve(&self) -> Result<Option<Resolved>, CredentialError> {
        if let Some(r) = self.fixed.resolve()? {
            return Ok(Some(r));
        }
        let from_keyring = keyring_get();
        if let Ok(Some(k)) = from_keyring {
            return Ok(Some(api_key(k, CredentialSource::Keyring)));
        }
        let from_file = match &self.file {
            Some(p) => file_get(p).map_err(|e| CredentialError(format!("key file: {e}")))?,
            None => None,
        };
        if let Some(k) = from_file {
            return Ok(Some(api_key(k, CredentialSource::File)));
        }
        match from_keyring {
            Err(e @ (KeyringError::Locked(_) | KeyringError::Failed(_))) => {
                Err(CredentialError(e.to_string()))
            }
            _ => Ok(None),
        }
    }

    /// The settings' credential comes first and needs no I/O.
    fn resolve_without_io(&self) -> Option<Resolved> {
        self.fixed.resolve_without_io()
    }
}

/// Trim a key read from a terminal or stdin. Returns the key and whether
/// anything was trimmed; an empty key or one with inner whitespace or control
/// characters is refused (the message never quotes the key).
pub fn clean_key(raw: &str) -> Result<(String, bool), String> {
    let key = raw.trim();
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(format!("the key is over {MAX_KEY_LEN} bytes long"));
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the key contains spaces or control characters inside it".into());
    }
    Ok((key.to_owned(), key.len() != raw.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_trimmed_and_checked() {
        assert_eq!(clean_key("sk-1\n"), Ok(("sk-1".into(), true)));
        assert_eq!(clean_key("sk-1"), Ok(("sk-1".into(), false)));
        assert!(clean_key(" \n").is_err());
        assert!(clean_key("sk 1").is_err());
        let e = clean_key("sk-secret\u{7}x").expect_err("control character");
        assert!(!e.contains("sk-secret"));
    }

    #[test]
    fn the_file_is_private_and_refused_when_not() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("cfg/api_key");
        assert_eq!(file_get(&p).expect("absent"), None);
        file_set(&p, "sk-file").expect("write");
        assert_eq!(file_get(&p).expect("read").as_deref(), Some("sk-file"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let e = file_get(&p).expect_err("too open");
            assert!(e.to_string().contains("mode 644") && !e.to_string().contains("sk-file"));
        }
        assert!(file_delete(&p).expect("rm"));
        assert!(!file_delete(&p).expect("rm again"));
    }
}
