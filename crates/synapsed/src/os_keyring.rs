//! The OS credential store behind [`crate::keystore`]: Secret Service over
//! libdbus on Linux and the BSDs, Keychain on macOS, Credential Manager on
//! Windows.
//!
//! This is the `keyring` crate's `v1` glue written out (ADR 0029): `keyring`
//! 4's `v1` feature hard-wires the zbus Secret Service store, which with its
//! async runtime cost about 2 MB of the stripped binary. The libdbus store
//! (`dbus-secret-service-keyring-store`, libdbus built from source and linked
//! statically) speaks the same Secret Service protocol with the same item
//! attributes. The store is chosen once per process, like `keyring` v1.

use std::sync::LazyLock;

pub use keyring_core::Error;

/// A named entry in the platform's credential store.
pub struct Entry {
    inner: keyring_core::Entry,
}

impl Entry {
    /// The entry `service`/`user`; `Error::NoDefaultStore` when the
    /// platform store could not be opened (no D-Bus session, say).
    pub fn new(service: &str, user: &str) -> keyring_core::Result<Self> {
        if STORE.is_err() {
            return Err(Error::NoDefaultStore);
        }
        Ok(Self {
            inner: keyring_core::Entry::new(service, user)?,
        })
    }

    /// The stored password.
    pub fn get_password(&self) -> keyring_core::Result<String> {
        self.inner.get_password()
    }

    /// Store `password`.
    pub fn set_password(&self, password: &str) -> keyring_core::Result<()> {
        self.inner.set_password(password)
    }

    /// Remove the credential.
    pub fn delete_credential(&self) -> keyring_core::Result<()> {
        self.inner.delete_credential()
    }
}

static STORE: LazyLock<keyring_core::Result<()>> = LazyLock::new(open_store);

fn open_store() -> keyring_core::Result<()> {
    #[cfg(target_os = "macos")]
    let store = apple_native_keyring_store::keychain::Store::new()?;
    #[cfg(target_os = "windows")]
    let store = windows_native_keyring_store::Store::new()?;
    #[cfg(all(unix, not(target_os = "macos")))]
    let store = dbus_secret_service_keyring_store::Store::new()?;
    #[cfg(any(unix, windows))]
    {
        keyring_core::set_default_store(store);
        Ok(())
    }
    #[cfg(not(any(unix, windows)))]
    Err(Error::Invalid(
        "platform".to_string(),
        "no OS credential store on this platform".to_string(),
    ))
}
