//! The log filter as `docs/operations.md` documents it, on a real daemon's
//! stderr: `SYNAPSE_LOG`, else `RUST_LOG`, else `info`; `target=level`
//! directives; a spec that does not parse is `info`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use synapse_test_support::daemon::{DaemonProcess, Options};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_synapsed"))
}

/// Start a daemon with these variables, stop it with `synapsed stop`, and
/// return its stderr. "synapsed ready" is logged at `info` by the
/// `synapsed` crate, "daemon stopped" at `info` by `synapse_daemon`.
fn stderr_with(env: &[(&str, &str)]) -> String {
    let mut d = DaemonProcess::spawn_with(
        &bin(),
        Options {
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        },
    )
    .expect("starts");
    let out = Command::new(bin())
        .arg("stop")
        .arg("--socket")
        .arg(&d.socket)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(d.wait_exit(Duration::from_secs(10)).unwrap().success());
    d.stderr()
}

fn shows(log: &str) -> (bool, bool) {
    (
        log.contains("synapsed ready"),
        log.contains("daemon stopped"),
    )
}

#[test]
fn synapse_log_sets_the_level() {
    assert_eq!(
        shows(&stderr_with(&[("SYNAPSE_LOG", "info")])),
        (true, true)
    );
    let log = stderr_with(&[("SYNAPSE_LOG", "warn")]);
    assert_eq!(shows(&log), (false, false), "{log}");
}

#[test]
fn target_directives_pick_crates() {
    let log = stderr_with(&[("SYNAPSE_LOG", "synapsed=warn,info")]);
    assert_eq!(shows(&log), (false, true), "{log}");
    let log = stderr_with(&[("SYNAPSE_LOG", "synapse_daemon=info,warn")]);
    assert_eq!(shows(&log), (false, true), "{log}");
    let log = stderr_with(&[("SYNAPSE_LOG", "synapsed=info,synapse_daemon=off")]);
    assert_eq!(shows(&log), (true, false), "{log}");
}

#[test]
fn rust_log_when_synapse_log_is_unset_or_empty() {
    let log = stderr_with(&[("SYNAPSE_LOG", ""), ("RUST_LOG", "warn")]);
    assert_eq!(shows(&log), (false, false), "{log}");
    let log = stderr_with(&[("SYNAPSE_LOG", "info"), ("RUST_LOG", "warn")]);
    assert_eq!(shows(&log), (true, true), "{log}");
}

#[test]
fn a_spec_that_does_not_parse_is_info() {
    let log = stderr_with(&[("SYNAPSE_LOG", "synapse_daemon=loud")]);
    assert_eq!(shows(&log), (true, true), "{log}");
}
