//! Start a real `synapsed serve` in a temp dir and talk to it.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use synapse_protocol::ReadyLine;

/// The repository root (for scripts and the Python plugin).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python that runs the plugin in tests and benches: the repo's `.venv`
/// (made by `tests/setup.sh`) when present, else `python3` on `PATH`.
pub fn test_python() -> PathBuf {
    let venv = repo_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// How long a daemon may take to print its readiness line in tests.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A `synapsed serve` child process with its own socket and data dir.
pub struct DaemonProcess {
    /// The child.
    pub child: Child,
    /// Its readiness line.
    pub ready: ReadyLine,
    /// Socket path.
    pub socket: PathBuf,
    /// Data dir.
    pub data_dir: PathBuf,
    stderr: Option<std::thread::JoinHandle<String>>,
    _tmp: Option<tempfile::TempDir>,
}

/// Options for [`DaemonProcess::spawn_with`].
#[derive(Default, Clone)]
pub struct Options {
    /// Extra arguments after `serve`.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Use this socket instead of one in a fresh temp dir.
    pub socket: Option<PathBuf>,
    /// Use this data dir instead of one in a fresh temp dir.
    pub data_dir: Option<PathBuf>,
}

/// The `serve` command for `bin` with a clean, test-only environment.
pub fn serve_command(bin: &Path, socket: &Path, data_dir: &Path, opts: &Options) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg("--socket")
        .arg(socket)
        .arg("--data-dir")
        .arg(data_dir);
    cmd.args(&opts.args);
    cmd.env_remove("ANTHROPIC_API_KEY")
        .env_remove("ANTHROPIC_AUTH_TOKEN")
        .env_remove("SYNAPSE_SOCKET")
        .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
        .env("SYNAPSE_LOG", "debug")
        // Never the developer's own keyring (a test may set it back).
        .env("SYNAPSE_KEYRING", "off")
        .env_remove("SYNAPSE_CONFIG")
        .env_remove("SYNAPSE_CONFIG_DIR")
        .env("XDG_CONFIG_HOME", data_dir.join("config-home"))
        .env("HOME", data_dir.join("home"));
    // Windows has no XDG: the config dir (key file) is moved explicitly, so a
    // test daemon never reads the profile's own.
    if cfg!(windows) {
        cmd.env(
            "SYNAPSE_CONFIG_DIR",
            data_dir.join("config-home").join("synapse"),
        );
    }
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

impl DaemonProcess {
    /// Spawn `bin serve` in a fresh temp dir and wait for its readiness line.
    pub fn spawn(bin: &Path) -> std::io::Result<Self> {
        Self::spawn_with(bin, Options::default())
    }

    /// Spawn with options.
    pub fn spawn_with(bin: &Path, opts: Options) -> std::io::Result<Self> {
        let tmp = tempfile::Builder::new().prefix("synapse-test").tempdir()?;
        let socket = opts
            .socket
            .clone()
            .unwrap_or_else(|| crate::test_socket(tmp.path()));
        let data_dir = opts
            .data_dir
            .clone()
            .unwrap_or_else(|| tmp.path().join("data"));
        let mut child = serve_command(bin, &socket, &data_dir, &opts).spawn()?;
        let stderr = child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = e.read_to_string(&mut s);
                s
            })
        });
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let line = read_line_within(stdout, READY_TIMEOUT)?;
        let ready: ReadyLine = match serde_json::from_str(line.trim_end()) {
            Ok(r) => r,
            Err(e) => {
                let _ = child.kill();
                let err = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
                return Err(std::io::Error::other(format!(
                    "bad readiness line {line:?}: {e}; stderr: {err}"
                )));
            }
        };
        Ok(Self {
            child,
            ready,
            socket,
            data_dir,
            stderr,
            _tmp: Some(tmp),
        })
    }

    /// Wait for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Send a signal to the daemon. Unix only: Windows has no signals (stop
    /// a daemon there with `synapsed stop`; a silent no-op here once made a
    /// Windows test wait forever for an exit).
    #[cfg(unix)]
    pub fn signal(&self, sig: i32) {
        // SAFETY-free: `kill` via the command keeps this crate free of unsafe.
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
    }

    /// Everything the daemon wrote on stderr (waits for it to exit: call after it ended).
    pub fn stderr(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// Keep the temp dir alive after this value is dropped (for restarts on the same paths).
    pub fn take_tempdir(&mut self) -> Option<tempfile::TempDir> {
        self._tmp.take()
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Read one line from `r` on a helper thread, giving up after `timeout`.
pub fn read_line_within<R: Read + Send + 'static>(
    r: R,
    timeout: Duration,
) -> std::io::Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(r);
        let mut line = String::new();
        let res = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send(res);
        // Keep draining so the child never blocks on a full stdout pipe.
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    rx.recv_timeout(timeout).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "no readiness line in time")
    })?
}

/// The two ends of a blocking connection: lines in, bytes out.
pub type BlockingConnection = (
    Box<dyn std::io::BufRead + Send>,
    Box<dyn std::io::Write + Send>,
);

/// A blocking connection to the daemon at `socket`, for tests that write and
/// read lines in turn. Unix: a socket whose reads fail after `read_timeout`.
#[cfg(unix)]
pub fn connect_blocking(
    socket: &Path,
    read_timeout: Duration,
) -> std::io::Result<BlockingConnection> {
    let stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(read_timeout))?;
    let writer = stream.try_clone()?;
    Ok((Box::new(std::io::BufReader::new(stream)), Box::new(writer)))
}

/// A blocking connection to the daemon at `socket`, for tests that write and
/// read lines in turn. Windows: the pipe opened as a file (retried while every
/// instance is busy). A synchronous pipe handle has no read timeout, so
/// `read_timeout` is not applied: the test runner's own limit bounds a read.
#[cfg(windows)]
pub fn connect_blocking(
    socket: &Path,
    read_timeout: Duration,
) -> std::io::Result<BlockingConnection> {
    let _ = read_timeout;
    let deadline = Instant::now() + Duration::from_secs(5);
    let file = loop {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(socket)
        {
            Ok(f) => break f,
            // ERROR_PIPE_BUSY: the daemon is between two pipe instances.
            Err(e) if e.raw_os_error() == Some(231) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    };
    let writer = file.try_clone()?;
    Ok((Box::new(std::io::BufReader::new(file)), Box::new(writer)))
}
