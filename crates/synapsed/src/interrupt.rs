//! Ctrl-C and stop requests from the OS, one interface for both families.
//!
//! - [`Interrupt`]: the user's Ctrl-C (`SIGINT` on Unix, `CTRL_C_EVENT` on
//!   Windows), listened for once and received as often as it comes.
//! - [`stop_requested`]: what asks a running daemon to stop: `SIGTERM` or
//!   `SIGINT` on Unix; Ctrl-C, Ctrl-Break, closing the console, log-off or
//!   shutdown on Windows.

/// A Ctrl-C listener installed once for a command's whole run.
pub struct Interrupt {
    #[cfg(unix)]
    inner: tokio::signal::unix::Signal,
    #[cfg(windows)]
    inner: tokio::signal::windows::CtrlC,
}

impl Interrupt {
    /// Start listening.
    pub fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        let inner = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        #[cfg(windows)]
        let inner = tokio::signal::windows::ctrl_c()?;
        Ok(Self { inner })
    }

    /// The next Ctrl-C.
    pub async fn recv(&mut self) -> Option<()> {
        self.inner.recv().await
    }
}

/// Resolves with a name for the request once the OS asks the daemon to stop.
#[cfg(unix)]
pub fn stop_requested() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

/// Resolves with a name for the request once the OS asks the daemon to stop.
#[cfg(windows)]
pub fn stop_requested() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::windows;
    let mut c = windows::ctrl_c()?;
    let mut brk = windows::ctrl_break()?;
    let mut close = windows::ctrl_close()?;
    let mut logoff = windows::ctrl_logoff()?;
    let mut shutdown = windows::ctrl_shutdown()?;
    Ok(async move {
        tokio::select! {
            _ = c.recv() => "Ctrl-C",
            _ = brk.recv() => "Ctrl-Break",
            _ = close.recv() => "console closed",
            _ = logoff.recv() => "log-off",
            _ = shutdown.recv() => "shutdown",
        }
    })
}
