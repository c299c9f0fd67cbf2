//! Test helper: deliver a console Ctrl-C to the Windows process `PID`, the way
//! a user's Ctrl-C in its console window reaches it.
//!
//! `synapse-ctrl-c PID`: attaches to the console of `PID` (which must have one
//! of its own, e.g. started with `CREATE_NEW_CONSOLE`), ignores Ctrl-C itself,
//! sends `CTRL_C_EVENT` to every process on that console and detaches. A
//! separate process does this so the test runner never joins another console.
//! Exit code 0 when the event was sent, 1 (with the Win32 error) when not, 2 on
//! bad usage or on other platforms.

use std::process::ExitCode;

#[cfg(windows)]
#[allow(unsafe_code)]
fn main() -> ExitCode {
    use windows_sys::Win32::System::Console::{
        AttachConsole, FreeConsole, GenerateConsoleCtrlEvent, SetConsoleCtrlHandler, CTRL_C_EVENT,
    };
    let Some(pid) = std::env::args().nth(1).and_then(|a| a.parse::<u32>().ok()) else {
        eprintln!("usage: synapse-ctrl-c PID");
        return ExitCode::from(2);
    };
    // SAFETY: plain Win32 calls without pointers (the handler routine is null,
    // which means "ignore Ctrl-C in this process").
    unsafe {
        FreeConsole();
        if AttachConsole(pid) == 0 {
            eprintln!(
                "synapse-ctrl-c: AttachConsole({pid}): {}",
                std::io::Error::last_os_error()
            );
            return ExitCode::from(1);
        }
        SetConsoleCtrlHandler(None, 1);
        let sent = GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0);
        let err = std::io::Error::last_os_error();
        FreeConsole();
        if sent == 0 {
            eprintln!("synapse-ctrl-c: GenerateConsoleCtrlEvent: {err}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

#[cfg(not(windows))]
fn main() -> ExitCode {
    eprintln!("synapse-ctrl-c: Windows only");
    ExitCode::from(2)
}
