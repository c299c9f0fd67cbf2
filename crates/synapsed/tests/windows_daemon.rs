//! The daemon on the Windows named-pipe transport (run under Wine by
//! `tests/windows/run.sh`): readiness and `daemon.status` over the pipe, a
//! second instance refused while the first keeps serving, the pipe's DACL read
//! back with the Win32 API, the CLI's `status`, `ask` and `stop`, the name free
//! again after a stop. Cancel latency and the status round trip are measured
//! on both transports by `transport_figures.rs`. The Unix socket
//! equivalents (uid, modes, stale socket files) are in `daemon_core.rs`.
#![cfg(windows)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use synapse_test_support::daemon::{serve_command, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_over_the_pipe_and_readiness_line() {
    let api = api(vec![text("hello", 10, 5)]);
    let d = daemon(&api);
    assert_eq!(d.ready.socket, d.socket.to_string_lossy());
    assert!(
        d.ready.socket.starts_with(r"\\.\pipe\"),
        "{}",
        d.ready.socket
    );
    assert_eq!(d.ready.pid, d.child.id());
    let c = Conn::open(&d.socket).await;
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(st["protocol"], json!(1), "{st}");
    assert_eq!(st["socket"], json!(d.ready.socket), "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_instance_is_refused_and_first_keeps_serving() {
    let api = api(vec![]);
    let d = daemon(&api);
    let tmp = tempfile::tempdir().expect("tmp");
    let out = within(
        "the second daemon to give up",
        tokio::task::spawn_blocking({
            let socket = d.socket.clone();
            let data = tmp.path().to_owned();
            move || serve_command(&bin(), &socket, &data, &Options::default()).output()
        }),
    )
    .await
    .expect("join")
    .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already running"), "{err}");
    let c = Conn::open(&d.socket).await;
    assert!(c.call("daemon.status", json!({})).await.is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemons_pipe_is_owner_and_system_only() {
    let api = api(vec![]);
    let d = daemon(&api);
    let stream = within("connect", synapse_rpc::endpoint::connect(&d.socket))
        .await
        .expect("connect");
    let sddl = stream.dacl_sddl().expect("GetSecurityInfo");
    eprintln!("daemon pipe DACL: {sddl}");
    assert_eq!(sddl, synapse_rpc::endpoint::acl::OWNER_ONLY_SDDL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_status_ask_and_stop() {
    let api = api(vec![text("Hello from the pipe.", 10, 5)]);
    let mut d = daemon(&api);
    let out = run_cli(&d.socket, &["status", "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let st: Value = serde_json::from_slice(&out.stdout).expect("status json");
    assert_eq!(st["protocol"], json!(1), "{st}");

    let out = run_cli(&d.socket, &["ask", "say hello"]).await;
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Hello from the pipe."), "{said}");

    let out = run_cli(&d.socket, &["stop"]).await;
    assert!(out.status.success(), "{out:?}");
    let st = d.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(st.success(), "{st:?}");
    // Nothing is left behind: the same name serves again at once.
    let again = synapse_rpc::Listener::bind(&d.socket).expect("the name is free after stop");
    drop(again);

    let out = run_cli(&d.socket, &["status"]).await;
    assert_eq!(out.status.code(), Some(1), "no daemon: {out:?}");
}

/// `serve` started the way the Houdini plugin starts it on Windows: no
/// console window, no console at all, its own process group (so a Ctrl-C in
/// Houdini's console never reaches it), stdio piped and nothing else
/// inherited. It announces readiness, answers over the pipe and stops on
/// `synapsed stop`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_launched_detached_like_the_plugin() {
    use std::os::windows::process::CommandExt;
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
    const DETACHED_PROCESS: u32 = 0x0000_0008;
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    let tmp = tempfile::tempdir().expect("tmp");
    let socket = synapse_test_support::test_socket(tmp.path());
    let mut cmd = serve_command(
        &bin(),
        &socket,
        &tmp.path().join("data"),
        &Options::default(),
    );
    cmd.creation_flags(CREATE_NO_WINDOW | DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
    let mut child = cmd.spawn().expect("spawn serve detached");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut { stderr }, &mut s);
        s
    });
    let line = synapse_test_support::daemon::read_line_within(
        stdout,
        synapse_test_support::daemon::READY_TIMEOUT,
    );
    let line = match line {
        Ok(l) => l,
        Err(e) => {
            let _ = child.kill();
            panic!(
                "no readiness line: {e}; stderr: {}",
                log.join().unwrap_or_default()
            );
        }
    };
    let ready: Value = serde_json::from_str(line.trim_end()).expect("readiness JSON");
    assert_eq!(ready["socket"], json!(socket.to_string_lossy()), "{line}");
    assert_eq!(ready["pid"], json!(child.id()), "{line}");

    let c = Conn::open(&socket).await;
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(st["protocol"], json!(1), "{st}");
    assert_eq!(st["pid"], json!(child.id()), "{st}");
    drop(c);

    let out = run_cli(&socket, &["stop"]).await;
    assert!(out.status.success(), "{out:?}");
    let st = within(
        "the detached daemon to exit",
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .expect("join")
    .expect("wait");
    let log = log.join().unwrap_or_default();
    assert!(st.success(), "{st:?}; stderr: {log}");
    assert!(log.contains("synapsed ready"), "{log}");
    // Each client's user was read and matched the daemon's (ADR 0032).
    let accepted: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("pipe client connected"))
        .collect();
    assert!(accepted.len() >= 2, "status and stop connected: {log}");
    for l in &accepted {
        assert!(
            l.contains("client_pid=") && l.contains("client_user=S-1-"),
            "{l}"
        );
    }
    assert!(!log.contains("refused a pipe client"), "{log}");
    assert!(!log.contains("could not be read"), "{log}");
}
