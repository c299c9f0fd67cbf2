//! Where the daemon listens, and who may connect.
//!
//! Two families behind one interface ([`Listener`], [`Stream`], [`connect`]):
//!
//! - Unix (`endpoint::unix`): a `0600` Unix domain socket in a `0700` directory owned
//!   by the user, a lock file for "already running", stale socket files
//!   replaced, and the peer's uid checked on every accept.
//! - Windows (`endpoint::windows`): the named pipe `\\.\pipe\synapse-<user>` with a
//!   protected DACL that lets in only the owner and SYSTEM, remote clients
//!   rejected, and "already running" decided by the first pipe instance. There
//!   are no lock or socket files; the client's user is checked on accept and
//!   its process id and user logged.
//!
//! `SYNAPSE_SOCKET` or `--socket` override the default on both (on Windows the
//! override must be a pipe name, `\\.\pipe\NAME`).

use std::io;
use std::path::{Path, PathBuf};

#[cfg(unix)]
pub mod unix;
#[cfg(unix)]
pub use unix::{
    connect, current_uid, default_socket_path, prepare_dir, split, Listener, ReadHalf, Stream,
    WriteHalf,
};

#[cfg(windows)]
pub mod acl;
#[cfg(windows)]
pub mod peer_user;
#[cfg(windows)]
pub mod windows;
#[cfg(windows)]
pub use windows::{connect, default_socket_path, split, Listener, ReadHalf, Stream, WriteHalf};

/// Environment variable overriding the socket path.
pub const SOCKET_ENV: &str = "SYNAPSE_SOCKET";

/// Why the endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// Another daemon answers on this socket.
    #[error("another synapsed is already running on {0} (use `synapsed stop` first)")]
    AlreadyRunning(PathBuf),
    /// The socket directory is unsafe.
    #[error("refusing socket directory {path}: {reason}")]
    UnsafeDirectory {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Something that is not a socket is in the way.
    #[error("refusing to replace {0}: it exists and is not a socket")]
    NotASocket(PathBuf),
    /// The path has no parent directory or is otherwise unusable.
    #[error("invalid socket path {0}")]
    InvalidPath(PathBuf),
    /// An I/O error, with what was being done.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// On Windows the endpoint is a named pipe and this is not a pipe name.
    #[error("invalid socket {0}: on Windows it is a named pipe, written \\\\.\\pipe\\NAME")]
    NotAPipeName(PathBuf),
}

pub(crate) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> EndpointError + 'a {
    move |source| EndpointError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The socket path: `SYNAPSE_SOCKET`, else the per-user default.
pub fn socket_path_from_env() -> PathBuf {
    match std::env::var_os(SOCKET_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => default_socket_path(),
    }
}
