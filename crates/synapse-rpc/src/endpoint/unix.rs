//! The Unix family: a `0600` Unix domain socket in a checked `0700` directory.
//!
//! - Default path: `$XDG_RUNTIME_DIR/synapse/synapsed.sock`, else
//!   `$TMPDIR/synapse-<uid>/synapsed.sock` (`/tmp` when `TMPDIR` is unset).
//! - The socket's directory is created `0700` when missing. An existing one
//!   must be a real directory (not a symlink), owned by this user, and not
//!   writable by group or others; anything else is refused with a message
//!   saying what to fix.
//! - One daemon per socket: an exclusive lock on `<socket>.lock` is held for
//!   the daemon's life. A socket file nobody answers on is stale and replaced;
//!   one that answers means another daemon is running.
//! - The socket is `0600`, and every accepted peer's uid is checked against
//!   ours; other users are closed without a byte of answer.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

use super::{io_err, EndpointError};

/// This process's effective uid.
pub fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The per-user default socket path (see the module docs).
pub fn default_socket_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("synapse").join("synapsed.sock");
    }
    let tmp = std::env::var_os("TMPDIR")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/tmp".into());
    PathBuf::from(tmp)
        .join(format!("synapse-{}", current_uid()))
        .join("synapsed.sock")
}

/// Create the socket's directory `0700` if missing, or check an existing one.
pub fn prepare_dir(dir: &Path) -> Result<(), EndpointError> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err("cannot create socket directory", dir))?;
            // `recursive` applies the mode to every level it creates; make sure
            // of the last one even under an odd umask.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(io_err("cannot chmod socket directory", dir))?;
            Ok(())
        }
        Err(e) => Err(EndpointError::Io {
            action: "cannot inspect",
            path: dir.to_owned(),
            source: e,
        }),
        Ok(meta) => {
            let unsafe_dir = |reason: String| EndpointError::UnsafeDirectory {
                path: dir.to_owned(),
                reason,
            };
            if meta.file_type().is_symlink() {
                return Err(unsafe_dir("it is a symlink; use a real directory".into()));
            }
            if !meta.is_dir() {
                return Err(unsafe_dir("it is not a directory".into()));
            }
            if meta.uid() != current_uid() {
                return Err(unsafe_dir(format!(
                    "it is owned by uid {}, not by you (uid {})",
                    meta.uid(),
                    current_uid()
                )));
            }
            if meta.mode() & 0o022 != 0 {
                return Err(unsafe_dir(format!(
                    "it is writable by group or others (mode {:o}); chmod 700 it or choose another path",
                    meta.mode() & 0o7777
                )));
            }
            Ok(())
        }
    }
}

/// A bound, checked socket. Removes its file (and lock) when dropped.
#[derive(Debug)]
pub struct Listener {
    inner: UnixListener,
    path: PathBuf,
    uid: u32,
    ino: u64,
    _lock: File,
}

impl Listener {
    /// Bind `path` following every rule in the module docs.
    pub fn bind(path: &Path) -> Result<Self, EndpointError> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .ok_or_else(|| EndpointError::InvalidPath(path.to_owned()))?;
        if path.file_name().is_none() {
            return Err(EndpointError::InvalidPath(path.to_owned()));
        }
        prepare_dir(dir)?;

        let mut lock_name = path.file_name().unwrap_or_default().to_os_string();
        lock_name.push(".lock");
        let lock_path = dir.join(lock_name);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode_0600()
            .open(&lock_path)
            .map_err(io_err("cannot open lock file", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(EndpointError::AlreadyRunning(path.to_owned()))
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err("cannot lock", &lock_path)(e)),
        }

        match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                match std::os::unix::net::UnixStream::connect(path) {
                    Ok(_) => return Err(EndpointError::AlreadyRunning(path.to_owned())),
                    Err(_) => {
                        tracing::info!(socket = %path.display(), "removing stale socket");
                        fs::remove_file(path)
                            .map_err(io_err("cannot remove stale socket", path))?;
                    }
                }
            }
            Ok(_) => return Err(EndpointError::NotASocket(path.to_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("cannot inspect", path)(e)),
        }

        let inner = UnixListener::bind(path).map_err(io_err("cannot bind", path))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(io_err("cannot chmod", path))?;
        let ino = fs::symlink_metadata(path).map(|m| m.ino()).unwrap_or(0);
        Ok(Self {
            inner,
            path: path.to_owned(),
            uid: current_uid(),
            ino,
            _lock: lock,
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accept the next connection from our own user; others are closed unanswered.
    pub async fn accept(&self) -> io::Result<(UnixStream, Option<u32>)> {
        loop {
            let (stream, _) = self.inner.accept().await?;
            match stream.peer_cred() {
                Ok(cred) if cred.uid() == self.uid => return Ok((stream, Some(cred.uid()))),
                Ok(cred) => {
                    tracing::warn!(peer_uid = cred.uid(), pid = ?cred.pid(), "refused a connection from another user");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "refused a connection whose credentials could not be read")
                }
            }
            drop(stream);
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Remove the socket only if it is still the one we bound.
        if fs::symlink_metadata(&self.path)
            .map(|m| m.ino() == self.ino)
            .unwrap_or(false)
        {
            let _ = fs::remove_file(&self.path);
        }
        // The lock file stays: deleting it would let a starting daemon lock a
        // fresh inode while this one still holds the old.
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// A connected stream: a Unix domain socket.
pub type Stream = UnixStream;
/// The read half of a [`Stream`].
pub type ReadHalf = tokio::net::unix::OwnedReadHalf;
/// The write half of a [`Stream`].
pub type WriteHalf = tokio::net::unix::OwnedWriteHalf;

/// Split a stream into halves that can be used from two tasks.
pub fn split(stream: Stream) -> (ReadHalf, WriteHalf) {
    stream.into_split()
}

/// Connect to the socket at `path`.
pub async fn connect(path: &Path) -> io::Result<Stream> {
    UnixStream::connect(path).await
}
