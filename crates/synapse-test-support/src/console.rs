//! A Ctrl-C to a child process, as a user at its terminal sends it.
//!
//! - Unix: `SIGINT` to the process.
//! - Windows: a console `CTRL_C_EVENT`. Such an event goes to every process
//!   on one console, so the child must have a console of its own (spawn it
//!   with [`OWN_CONSOLE`]); the `synapse-ctrl-c` helper of this crate attaches
//!   to that console and sends it, keeping the test runner out of it. This is
//!   what works under Wine: `GenerateConsoleCtrlEvent` from a process without
//!   a console fails (`ERROR_INVALID_ACCESS`), and `CTRL_C_EVENT` is never
//!   delivered to a `CREATE_NEW_PROCESS_GROUP` group.

use std::io;
use std::path::PathBuf;

/// `CREATE_NEW_CONSOLE`: the creation flag giving a Windows child a console
/// of its own, which [`interrupt`] can then reach.
pub const OWN_CONSOLE: u32 = 0x0000_0010;

/// The `synapse-ctrl-c` helper, built beside the test executables
/// (`cargo build -p synapse-test-support --bins`).
pub fn ctrl_c_helper() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // Test executables live in `<profile>/deps`, binaries in `<profile>`.
    let profile = exe
        .parent()
        .and_then(|d| d.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    profile.join(format!("synapse-ctrl-c{}", std::env::consts::EXE_SUFFIX))
}

/// Send a Ctrl-C to the process `pid`.
pub fn interrupt(pid: u32) -> io::Result<()> {
    #[cfg(unix)]
    let out = std::process::Command::new("kill")
        .arg("-INT")
        .arg(pid.to_string())
        .output()?;
    #[cfg(windows)]
    let out = {
        let helper = ctrl_c_helper();
        if !helper.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} is missing: build it with `cargo build -p synapse-test-support --bins`",
                    helper.display()
                ),
            ));
        }
        std::process::Command::new(helper)
            .arg(pid.to_string())
            .output()?
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "Ctrl-C to {pid} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
