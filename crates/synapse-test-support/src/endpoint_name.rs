//! A fresh socket path for a test: a file in the test's temp dir on Unix, a
//! unique named pipe on Windows (pipes do not live in directories).

use std::path::{Path, PathBuf};

/// Where a test's daemon listens. `dir` is the test's temp dir (its `run`
/// subdirectory holds the socket on Unix; unused on Windows).
#[cfg(unix)]
pub fn test_socket(dir: &Path) -> PathBuf {
    dir.join("run").join("synapsed.sock")
}

/// Where a test's daemon listens. `dir` is the test's temp dir (its `run`
/// subdirectory holds the socket on Unix; unused on Windows).
#[cfg(windows)]
pub fn test_socket(_dir: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    PathBuf::from(format!(
        r"\\.\pipe\synapse-test-{}-{}-{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}
