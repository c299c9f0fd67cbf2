//! The Windows family: the named pipe `\\.\pipe\synapse-<user>`.
//!
//! - Every pipe instance is created with a protected DACL that lets in only
//!   the owner and SYSTEM ([`acl::OWNER_ONLY_SDDL`](super::acl::OWNER_ONLY_SDDL)),
//!   and with `PIPE_REJECT_REMOTE_CLIENTS`: other users and other machines
//!   cannot open it.
//! - "Already running": a name that can be opened as a client is served
//!   already; then the first instance is created with
//!   `FILE_FLAG_FIRST_PIPE_INSTANCE`, which fails when any process already
//!   serves that name (the atomic check on Windows; Wine ignores the flag). There is no lock file and nothing to clean up: a pipe
//!   disappears with the last handle of the process that served it.
//! - On accept the client's process id is read (`GetNamedPipeClientProcessId`)
//!   and its user compared with the daemon's ([`peer_user`](super::peer_user),
//!   ADR 0032): another user's client is closed at once and logged; the pid and
//!   user of every accepted client are logged.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::windows::named_pipe::{
    ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions,
};

use super::acl::{self, OwnerOnly};
use super::peer_user::{self, Sid, Verdict};
use super::{io_err, EndpointError};

const PIPE_PREFIX: &str = r"\\.\pipe\";
const ERROR_ACCESS_DENIED: i32 = 5;
const ERROR_PIPE_BUSY: i32 = 231;
/// How long [`connect`] retries while every pipe instance is busy.
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// The per-user default: `\\.\pipe\synapse-<user>` (`USERNAME`, characters
/// other than letters, digits, `-`, `_` and `.` replaced by `_`).
pub fn default_socket_path() -> PathBuf {
    let user = std::env::var("USERNAME")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "user".into());
    let user: String = user
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from(format!("{PIPE_PREFIX}synapse-{user}"))
}

/// Whether `path` names a pipe (`\\.\pipe\NAME`, NAME not empty).
pub fn is_pipe_name(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s.len() > PIPE_PREFIX.len() && s[..PIPE_PREFIX.len()].eq_ignore_ascii_case(PIPE_PREFIX)
}

/// A bound pipe: the instance waiting for the next client.
#[derive(Debug)]
pub struct Listener {
    next: tokio::sync::Mutex<NamedPipeServer>,
    path: PathBuf,
    security: OwnerOnly,
    own: Sid,
}

impl Listener {
    /// Create the first instance of the pipe named `path`.
    pub fn bind(path: &Path) -> Result<Self, EndpointError> {
        if !is_pipe_name(path) {
            return Err(EndpointError::NotAPipeName(path.to_owned()));
        }
        probe(path)?;
        let own = Sid::current().map_err(io_err("cannot read this process's user for", path))?;
        let security = OwnerOnly::new()
            .map_err(io_err("cannot build the pipe's security descriptor", path))?;
        let first = create(path, &security, true).map_err(|e| {
            if e.raw_os_error() == Some(ERROR_ACCESS_DENIED) {
                EndpointError::AlreadyRunning(path.to_owned())
            } else {
                io_err("cannot create pipe", path)(e)
            }
        })?;
        Ok(Self {
            next: tokio::sync::Mutex::new(first),
            path: path.to_owned(),
            security,
            own,
        })
    }

    /// The pipe name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accept the next client. The DACL keeps other users out; the client's
    /// user is checked again here and a client of another user is closed
    /// without a byte of answer (ADR 0032). Cancel-safe: a dropped call keeps
    /// the waiting instance for the next one.
    pub async fn accept(&self) -> io::Result<(Stream, Option<u32>)> {
        use std::os::windows::io::AsRawHandle;
        loop {
            let mut next = self.next.lock().await;
            next.connect().await?;
            let fresh = create(&self.path, &self.security, false)?;
            let server = std::mem::replace(&mut *next, fresh);
            drop(next);
            let pid = acl::client_process_id(server.as_raw_handle());
            match peer_user::judge(&self.own, pid, Sid::of_process) {
                Verdict::Same { pid, user } => {
                    tracing::debug!(client_pid = pid, client_user = %user, "pipe client connected");
                }
                Verdict::OtherUser { pid, user } => {
                    tracing::warn!(client_pid = pid, client_user = %user, own_user = %self.own, "refused a pipe client of another user");
                    drop(server);
                    continue;
                }
                Verdict::Unknown { pid, reason } => {
                    tracing::warn!(client_pid = ?pid, %reason, "pipe client connected; its user could not be read (the pipe's DACL admitted it)");
                }
            }
            return Ok((Stream::Server(server), None));
        }
    }
}

/// Refuse a name some process already serves. `FILE_FLAG_FIRST_PIPE_INSTANCE`
/// makes the check atomic on Windows; Wine does not enforce that flag, so the
/// name is also opened as a client first (a daemon that answers sees a
/// connection close at once).
fn probe(path: &Path) -> Result<(), EndpointError> {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(_) => Err(EndpointError::AlreadyRunning(path.to_owned())),
        Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) => {
            Err(EndpointError::AlreadyRunning(path.to_owned()))
        }
        Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED) => Err(EndpointError::Io {
            action: "refusing pipe (it exists and this user may not open it)",
            path: path.to_owned(),
            source: e,
        }),
        Err(_) => Ok(()),
    }
}

fn create(path: &Path, security: &OwnerOnly, first: bool) -> io::Result<NamedPipeServer> {
    let mut attributes = security.attributes();
    let mut options = ServerOptions::new();
    options
        .first_pipe_instance(first)
        .reject_remote_clients(true);
    // SAFETY: `attributes` points at a descriptor owned by `security`, alive
    // for the whole call.
    #[allow(unsafe_code)]
    unsafe {
        options.create_with_security_attributes_raw(
            path.as_os_str(),
            (&mut attributes as *mut windows_sys::Win32::Security::SECURITY_ATTRIBUTES).cast(),
        )
    }
}

/// A connected pipe, from either end.
#[derive(Debug)]
pub enum Stream {
    /// The daemon's end.
    Server(NamedPipeServer),
    /// A client's end.
    Client(NamedPipeClient),
}

impl Stream {
    /// The DACL of the pipe as SDDL, read back with `GetSecurityInfo`.
    pub fn dacl_sddl(&self) -> io::Result<String> {
        use std::os::windows::io::AsRawHandle;
        let handle = match self {
            Stream::Server(s) => s.as_raw_handle(),
            Stream::Client(c) => c.as_raw_handle(),
        };
        acl::dacl_sddl(handle)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Server(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Client(c) => Pin::new(c).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Server(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Client(c) => Pin::new(c).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Server(s) => Pin::new(s).poll_flush(cx),
            Stream::Client(c) => Pin::new(c).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Server(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Client(c) => Pin::new(c).poll_shutdown(cx),
        }
    }
}

/// The read half of a [`Stream`].
pub type ReadHalf = tokio::io::ReadHalf<Stream>;
/// The write half of a [`Stream`].
pub type WriteHalf = tokio::io::WriteHalf<Stream>;

/// Split a stream into halves that can be used from two tasks.
pub fn split(stream: Stream) -> (ReadHalf, WriteHalf) {
    tokio::io::split(stream)
}

/// Connect to the pipe named `path`, waiting (bounded) while every instance is busy.
pub async fn connect(path: &Path) -> io::Result<Stream> {
    if !is_pipe_name(path) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            EndpointError::NotAPipeName(path.to_owned()).to_string(),
        ));
    }
    let deadline = tokio::time::Instant::now() + BUSY_WAIT;
    loop {
        match ClientOptions::new().open(path.as_os_str()) {
            Ok(client) => return Ok(Stream::Client(client)),
            // The daemon is between two instances: the next one is created
            // right after an accept, so this is short.
            Err(e)
                if e.raw_os_error() == Some(ERROR_PIPE_BUSY)
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
